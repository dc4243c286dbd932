//! Ranking metrics over one ranked list (best first) and a set of relevant items, plus the
//! list-set metrics coverage and novelty. Binary relevance throughout.

use rustc_hash::FxHashSet;

/// 1-based rank of the first relevant item within the top `k`.
pub fn first_hit(ranked: &[u32], relevant: &FxHashSet<u32>, k: usize) -> Option<usize> {
    ranked
        .iter()
        .take(k)
        .position(|i| relevant.contains(i))
        .map(|p| p + 1)
}

/// HR@k: 1 if any relevant item is in the top `k`, else 0.
pub fn hit_rate(ranked: &[u32], relevant: &FxHashSet<u32>, k: usize) -> f64 {
    f64::from(u8::from(first_hit(ranked, relevant, k).is_some()))
}

/// MRR@k (reciprocal rank of the first relevant item; 0 beyond `k`).
pub fn reciprocal_rank(ranked: &[u32], relevant: &FxHashSet<u32>, k: usize) -> f64 {
    first_hit(ranked, relevant, k).map_or(0.0, |r| 1.0 / r as f64)
}

/// Recall@k: relevant items in the top `k` over all relevant items.
pub fn recall(ranked: &[u32], relevant: &FxHashSet<u32>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let hits = ranked
        .iter()
        .take(k)
        .filter(|i| relevant.contains(i))
        .count();
    hits as f64 / relevant.len() as f64
}

/// NDCG@k: `Σ 1/log2(rank + 1)` over hits, divided by the same for a perfect list.
pub fn ndcg(ranked: &[u32], relevant: &FxHashSet<u32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, i)| relevant.contains(i))
        .map(|(p, _)| 1.0 / ((p + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k))
        .map(|p| 1.0 / ((p + 2) as f64).log2())
        .sum();
    if ideal == 0.0 {
        0.0
    } else {
        dcg / ideal
    }
}

/// Catalog coverage@k: distinct items in any top `k` over the catalog size.
pub fn coverage<'a>(lists: impl IntoIterator<Item = &'a [u32]>, k: usize, catalog: usize) -> f64 {
    if catalog == 0 {
        return 0.0;
    }
    let mut seen = FxHashSet::default();
    for l in lists {
        seen.extend(l.iter().take(k).copied());
    }
    seen.len() as f64 / catalog as f64
}

/// Novelty@k: mean self-information `−log2(users(i) / n_users)` of the recommended items
/// (Zhou et al. 2010), over all top-`k` slots; items no training user had count as
/// `log2(n_users)`.
pub fn novelty<'a>(
    lists: impl IntoIterator<Item = &'a [u32]>,
    k: usize,
    item_users: &[u32],
    n_users: usize,
) -> f64 {
    let n = n_users.max(1) as f64;
    let (mut sum, mut count) = (0.0, 0usize);
    for l in lists {
        for &i in l.iter().take(k) {
            let pop = item_users.get(i as usize).copied().unwrap_or(0).max(1);
            sum += -(f64::from(pop) / n).log2();
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

/// Binomial standard error of a rate `p` over `n` trials.
pub fn binomial_se(p: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        (p * (1.0 - p) / n as f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u32]) -> FxHashSet<u32> {
        v.iter().copied().collect()
    }

    #[test]
    fn single_target_cases() {
        let ranked = [5, 3, 9, 1];
        let rel = set(&[9]);
        assert_eq!(first_hit(&ranked, &rel, 4), Some(3));
        assert_eq!(hit_rate(&ranked, &rel, 2), 0.0);
        assert_eq!(hit_rate(&ranked, &rel, 3), 1.0);
        assert_eq!(reciprocal_rank(&ranked, &rel, 3), 1.0 / 3.0);
        assert_eq!(reciprocal_rank(&ranked, &rel, 2), 0.0);
        // Rank 3: 1/log2(4) = 0.5.
        assert!((ndcg(&ranked, &rel, 10) - 0.5).abs() < 1e-12);
        assert_eq!(recall(&ranked, &rel, 3), 1.0);
    }

    #[test]
    fn several_targets() {
        let ranked = [1, 2, 3, 4];
        let rel = set(&[2, 4, 7]);
        // DCG = 1/log2(3) + 1/log2(5); IDCG (3 relevant) = 1 + 1/log2(3) + 1/2.
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((ndcg(&ranked, &rel, 4) - dcg / idcg).abs() < 1e-12);
        assert!((recall(&ranked, &rel, 4) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(reciprocal_rank(&ranked, &rel, 4), 0.5);
        // With k = 1 the ideal list has one slot.
        assert_eq!(ndcg(&ranked, &rel, 1), 0.0);
        assert_eq!(ndcg(&[2, 1], &rel, 1), 1.0);
    }

    #[test]
    fn coverage_and_novelty() {
        let a: &[u32] = &[0, 1];
        let b: &[u32] = &[1, 2];
        assert_eq!(coverage([a, b], 2, 10), 0.3);
        assert_eq!(coverage([a, b], 1, 10), 0.2);
        // 8 users; item 0 had 8, item 1 had 2, item 2 had 1: −log2 of 1, 1/4, 1/8.
        let users = [8, 2, 1];
        let want = (0.0 + 2.0 + 2.0 + 3.0) / 4.0;
        assert!((novelty([a, b], 2, &users, 8) - want).abs() < 1e-12);
        assert!((binomial_se(0.5, 100) - 0.05).abs() < 1e-12);
    }
}
