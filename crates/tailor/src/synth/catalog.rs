//! The synthetic catalog: products spread over named categories, log-normal prices per
//! category, Zipf-like item popularity within each category and uneven popularity between
//! categories.

use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::LogNormal;
use serde::Serialize;

/// Category name, median price in USD, and the noun used in product names.
const CATEGORIES: &[(&str, f64, &str)] = &[
    ("shoes", 85.0, "Sneakers"),
    ("trousers", 60.0, "Trousers"),
    ("jackets", 120.0, "Jacket"),
    ("shirts", 45.0, "Shirt"),
    ("dresses", 75.0, "Dress"),
    ("t-shirts", 22.0, "T-Shirt"),
    ("sweaters", 55.0, "Sweater"),
    ("skirts", 40.0, "Skirt"),
    ("coats", 160.0, "Coat"),
    ("bags", 70.0, "Tote Bag"),
    ("hats", 25.0, "Cap"),
    ("socks", 9.0, "Socks"),
    ("scarves", 30.0, "Scarf"),
    ("belts", 28.0, "Belt"),
    ("sunglasses", 95.0, "Sunglasses"),
    ("watches", 180.0, "Watch"),
    ("jewellery", 65.0, "Necklace"),
    ("swimwear", 35.0, "Swim Shorts"),
    ("underwear", 18.0, "Briefs"),
    ("gloves", 24.0, "Gloves"),
];
const ADJECTIVES: &[&str] = &[
    "Classic",
    "Slim",
    "Relaxed",
    "Vintage",
    "Everyday",
    "Premium",
    "Urban",
    "Cosy",
    "Lightweight",
    "Essential",
    "Heritage",
    "Sport",
];
const MATERIALS: &[&str] = &[
    "Cotton", "Linen", "Wool", "Denim", "Leather", "Suede", "Cashmere", "Canvas", "Silk",
    "Recycled", "Merino", "Corduroy",
];
const COLOURS: &[&str] = &[
    "Black", "Navy", "Olive", "Sand", "White", "Burgundy", "Grey", "Camel", "Forest", "Rust",
];

/// Zipf exponent of item popularity within a category.
const ITEM_ZIPF: f64 = 1.1;
/// Zipf exponent of popularity across categories (gentler than between items).
const CATEGORY_ZIPF: f64 = 0.8;
/// Spread of log-normal prices around a category's median.
const PRICE_SIGMA: f64 = 0.45;

/// One product of the synthetic shop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// `"P00042"`.
    pub id: String,
    pub name: String,
    /// Human category name such as `"shoes"`; `"shoes-2"` when there are more categories
    /// than names.
    pub category: String,
    /// USD, two decimals.
    pub price: f64,
}

impl Product {
    /// Stock keeping unit derived from the id: `"P00042"` → `"SKU-00042"`.
    pub(crate) fn sku(&self) -> String {
        format!("SKU-{}", self.id.trim_start_matches('P'))
    }
}

/// Category structure and popularity samplers; indices refer to the product vector built
/// alongside it.
#[derive(Debug)]
pub(crate) struct Assortment {
    pub(crate) categories: Vec<String>,
    /// Category index of each product.
    pub(crate) category_of: Vec<usize>,
    /// Product indices of each category, most popular first.
    members: Vec<Vec<usize>>,
    /// Popularity sampler over `members[c]`; `None` for an empty category.
    item_pick: Vec<Option<WeightedIndex<f64>>>,
    /// Popularity sampler over categories (empty ones weigh 0); `None` without products.
    category_pick: Option<WeightedIndex<f64>>,
}

/// Builds `items` products over `max(categories, 1)` categories.
pub(crate) fn build(
    items: usize,
    categories: usize,
    rng: &mut StdRng,
) -> (Vec<Product>, Assortment) {
    let n_cat = categories.max(1);
    let mut names = Vec::with_capacity(n_cat);
    let mut medians = Vec::with_capacity(n_cat);
    let mut nouns = Vec::with_capacity(n_cat);
    for c in 0..n_cat {
        let (name, median, noun) = CATEGORIES[c % CATEGORIES.len()];
        let round = c / CATEGORIES.len();
        if round == 0 {
            names.push(name.to_string());
            medians.push(median);
        } else {
            names.push(format!("{name}-{}", round + 1));
            medians.push(median * rng.gen_range(0.8..1.25));
        }
        nouns.push(noun);
    }

    // Even category sizes, but ids are not aligned with categories.
    let mut category_of: Vec<usize> = (0..items).map(|i| i % n_cat).collect();
    category_of.shuffle(rng);

    let products = category_of
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let name = format!(
                "{} {} {}, {}",
                ADJECTIVES.choose(rng).expect("adjective list is not empty"),
                MATERIALS.choose(rng).expect("material list is not empty"),
                nouns[c],
                COLOURS.choose(rng).expect("colour list is not empty"),
            );
            let price = LogNormal::new(medians[c].ln(), PRICE_SIGMA)
                .map(|d| d.sample(rng))
                .unwrap_or(medians[c]);
            Product {
                id: format!("P{i:05}"),
                name,
                category: names[c].clone(),
                price: price.max(1.0).round() - 0.01,
            }
        })
        .collect();

    let mut members = vec![Vec::new(); n_cat];
    for (i, &c) in category_of.iter().enumerate() {
        members[c].push(i);
    }
    for m in &mut members {
        m.shuffle(rng); // popularity rank is unrelated to the id
    }
    let item_pick = members
        .iter()
        .map(|m| WeightedIndex::new((0..m.len()).map(|r| zipf(r, ITEM_ZIPF))).ok())
        .collect();

    let mut rank: Vec<usize> = (0..n_cat).collect();
    rank.shuffle(rng);
    let category_weights = (0..n_cat).map(|c| {
        if members[c].is_empty() {
            0.0
        } else {
            zipf(rank[c], CATEGORY_ZIPF)
        }
    });
    let category_pick = WeightedIndex::new(category_weights).ok();

    let assortment = Assortment {
        categories: names,
        category_of,
        members,
        item_pick,
        category_pick,
    };
    (products, assortment)
}

fn zipf(rank: usize, exponent: f64) -> f64 {
    1.0 / ((rank + 1) as f64).powf(exponent)
}

impl Assortment {
    /// Whether category `c` has any product.
    pub(crate) fn has_items(&self, c: usize) -> bool {
        self.members.get(c).is_some_and(|m| !m.is_empty())
    }

    /// Number of categories with at least one product.
    pub(crate) fn stocked_categories(&self) -> usize {
        self.members.iter().filter(|m| !m.is_empty()).count()
    }

    /// A non-empty category, by category popularity; `None` without products.
    pub(crate) fn sample_category(&self, rng: &mut StdRng) -> Option<usize> {
        self.category_pick.as_ref().map(|d| d.sample(rng))
    }

    /// A non-empty category not in `exclude` when there is one, by popularity.
    pub(crate) fn sample_category_excluding(
        &self,
        rng: &mut StdRng,
        exclude: &[usize],
    ) -> Option<usize> {
        let first = self.sample_category(rng)?;
        if self.stocked_categories() <= exclude.len() {
            return Some(first);
        }
        let mut c = first;
        for _ in 0..64 {
            if !exclude.contains(&c) {
                return Some(c);
            }
            c = self.sample_category(rng)?;
        }
        // Excluded categories hold nearly all the weight: take the first stocked other one.
        (0..self.categories.len())
            .find(|c| self.has_items(*c) && !exclude.contains(c))
            .or(Some(first))
    }

    /// A product of category `c` by its popularity; `None` if the category is empty.
    pub(crate) fn sample_item(&self, rng: &mut StdRng, c: usize) -> Option<usize> {
        let pick = self.item_pick.get(c)?.as_ref()?;
        Some(self.members[c][pick.sample(rng)])
    }

    /// Up to `k` distinct products of category `c`, popular ones more likely and first.
    pub(crate) fn sample_distinct(&self, rng: &mut StdRng, c: usize, k: usize) -> Vec<usize> {
        let Some(members) = self.members.get(c) else {
            return Vec::new();
        };
        let k = k.min(members.len());
        let mut out = Vec::with_capacity(k);
        for _ in 0..k * 20 {
            if out.len() == k {
                break;
            }
            match self.sample_item(rng, c) {
                Some(i) if !out.contains(&i) => out.push(i),
                _ => {}
            }
        }
        // Rarely the sampler keeps hitting the head: fill up in popularity order.
        for &i in members {
            if out.len() >= k {
                break;
            }
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Shop, ShopConfig};
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashMap;

    #[test]
    fn names_are_unique_and_suffixed() {
        let mut rng = StdRng::seed_from_u64(1);
        let (products, a) = build(100, 45, &mut rng);
        assert_eq!(a.categories.len(), 45);
        let unique: std::collections::HashSet<_> = a.categories.iter().collect();
        assert_eq!(unique.len(), 45);
        assert_eq!(a.categories[20], "shoes-2");
        assert_eq!(a.categories[40], "shoes-3");
        assert!(products.iter().all(|p| p.price > 0.0 && p.id.len() == 6));
        assert_eq!(products[42].sku(), "SKU-00042");
    }

    #[test]
    fn empty_and_tiny_catalogs() {
        let mut rng = StdRng::seed_from_u64(1);
        let (products, a) = build(0, 0, &mut rng);
        assert!(products.is_empty());
        assert_eq!(a.sample_category(&mut rng), None);
        assert_eq!(a.sample_item(&mut rng, 0), None);
        let (products, a) = build(1, 5, &mut rng);
        assert_eq!(products.len(), 1);
        let c = a.sample_category(&mut rng).expect("one stocked category");
        assert_eq!(a.sample_category_excluding(&mut rng, &[c]), Some(c));
        assert_eq!(a.sample_distinct(&mut rng, c, 10), vec![0]);
    }

    #[test]
    fn prices_follow_category_medians() {
        let mut rng = StdRng::seed_from_u64(3);
        let (products, _) = build(2000, 12, &mut rng);
        let mean = |cat: &str| {
            let ps: Vec<f64> = products
                .iter()
                .filter(|p| p.category == cat)
                .map(|p| p.price)
                .collect();
            ps.iter().sum::<f64>() / ps.len() as f64
        };
        assert!(mean("socks") * 4.0 < mean("coats"));
    }

    #[test]
    fn popularity_is_skewed() {
        let shop = Shop::new(ShopConfig {
            days: 2,
            ..ShopConfig::default()
        });
        let mut views: HashMap<String, usize> = HashMap::new();
        for e in shop.events().filter(|e| e["event"] == "Product Viewed") {
            let id = e["properties"]["product_id"].as_str().expect("product_id");
            *views.entry(id.to_string()).or_default() += 1;
        }
        let mut counts: Vec<usize> = views.into_values().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let total: usize = counts.iter().sum();
        let top: usize = counts.iter().take(shop.catalog.len() / 10).sum();
        assert!(
            top as f64 > 0.3 * total as f64,
            "top 10% got {top} of {total}"
        );
    }
}
