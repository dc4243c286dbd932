//! `[features]` validation: every kind of bad definition is refused with an error naming the
//! feature and the field.

use tailor_features::engine::{FeatureSet, FeaturesConfig};

fn compile(toml_text: &str) -> Result<(), String> {
    let cfg: FeaturesConfig = toml::from_str(toml_text).map_err(|e| format!("toml: {e}"))?;
    FeatureSet::compile(&cfg)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The error for one user definition (`body` is its TOML) at index 0, named `f`.
fn error_of(body: &str) -> String {
    compile(&format!(
        "defaults = false\n[[define]]\nname = \"f\"\n{body}\n"
    ))
    .expect_err("definition should be refused")
}

#[track_caller]
fn refused(body: &str, field: &str, hint: &str) {
    let err = error_of(body);
    let prefix = format!("features.define[0] (\"f\").{field}: ");
    assert!(
        err.starts_with(&prefix),
        "{err:?} should start with {prefix:?}"
    );
    assert!(err.contains(hint), "{err:?} should mention {hint:?}");
}

#[test]
fn the_documented_example_message() {
    let err = compile(
        r#"
        [[define]]
        name = "a"
        entity = "item"
        aggregation = "count"
        [[define]]
        name = "b"
        entity = "item"
        aggregation = "count"
        [[define]]
        name = "c"
        entity = "item"
        aggregation = "count"
        [[define]]
        name = "item_ctr_24h"
        entity = "item"
        aggregation = "count"
        window = "2x"
        "#,
    )
    .expect_err("bad window");
    assert_eq!(
        err,
        "features.define[3] (\"item_ctr_24h\").window: \"2x\" is not a duration; use 5m, 1h, 24h, 7d, tumbling:1d, session or lifetime"
    );
}

#[test]
fn defaults_and_a_full_definition_are_accepted() {
    compile("").expect("defaults");
    compile(
        r#"
        allowed_lateness_secs = 60
        [[define]]
        name = "item_expensive_views_1h"
        entity = "item"
        events = ["Product Viewed"]
        interactions = ["view"]
        where = [{ property = "price", op = "gt", value = 10 }, { field = "category", op = "eq", value = "shoes" }]
        aggregation = "count"
        window = "1h"
        [[define]]
        name = "item_views_1h"
        entity = "item"
        interactions = ["view"]
        aggregation = "count"
        window = "90m"
        "#,
    )
    .expect("valid, and item_views_1h replaces the default");
}

#[test]
fn names() {
    refused_named("", "name", "not a valid name");
    refused_named("Item Views", "name", "lowercase");
    let err = compile(
        "[[define]]\nname = \"x\"\nentity = \"item\"\naggregation = \"count\"\n\
         [[define]]\nname = \"x\"\nentity = \"item\"\naggregation = \"count\"\n",
    )
    .expect_err("duplicate");
    assert!(
        err.starts_with("features.define[1] (\"x\").name: ") && err.contains("features.define[0]"),
        "{err}"
    );
}

fn refused_named(name: &str, field: &str, hint: &str) {
    let err = compile(&format!(
        "[[define]]\nname = {name:?}\nentity = \"item\"\naggregation = \"count\"\n"
    ))
    .expect_err("bad name");
    assert!(
        err.starts_with(&format!("features.define[0] ({name:?}).{field}: ")) && err.contains(hint),
        "{err}"
    );
}

#[test]
fn entities_aggregations_windows() {
    refused(
        "entity = \"items\"\naggregation = \"count\"",
        "entity",
        "property:<key>",
    );
    refused(
        "entity = \"property:\"\naggregation = \"count\"",
        "entity",
        "not an entity",
    );
    refused(
        "entity = \"item\"\naggregation = \"avg\"",
        "aggregation",
        "decayed_sum",
    );
    refused(
        "entity = \"item\"\naggregation = \"count\"\nwindow = \"tumbling:1w\"",
        "window",
        "tumbling:1d",
    );
    refused(
        "entity = \"item\"\naggregation = \"count\"\nwindow = \"session\"",
        "window",
        "needs entity = \"user\"",
    );
    refused(
        "entity = \"item\"\naggregation = \"count\"\nwindow = \"1000d\"",
        "window",
        "buckets",
    );
}

#[test]
fn filters() {
    let base = "entity = \"item\"\naggregation = \"count\"\n";
    refused(&format!("{base}events = [\"\"]"), "events[0]", "empty");
    refused(
        &format!("{base}interactions = [\"view\", \"buy\"]"),
        "interactions[1]",
        "add_to_cart",
    );
    refused(
        &format!("{base}where = [{{ op = \"exists\" }}]"),
        "where[0]",
        "exactly one of property",
    );
    refused(
        &format!("{base}where = [{{ property = \"a\", field = \"price\", op = \"exists\" }}]"),
        "where[0]",
        "exactly one",
    );
    refused(
        &format!("{base}where = [{{ field = \"prise\", op = \"exists\" }}]"),
        "where[0].field",
        "item_id",
    );
    refused(
        &format!("{base}where = [{{ property = \"a\", op = \"gte\", value = 1 }}]"),
        "where[0].op",
        "ge",
    );
    refused(
        &format!("{base}where = [{{ property = \"a\", op = \"gt\" }}]"),
        "where[0].value",
        "needs a value",
    );
    refused(
        &format!("{base}where = [{{ property = \"a\", op = \"exists\", value = 1 }}]"),
        "where[0].value",
        "no value",
    );
    refused(
        &format!("{base}where = [{{ property = \"a\", op = \"lt\", value = \"x\" }}]"),
        "where[0].value",
        "a number",
    );
}

#[test]
fn fields_and_options() {
    refused(
        "entity = \"item\"\naggregation = \"count\"\nfield = \"price\"",
        "field",
        "count",
    );
    refused(
        "entity = \"item\"\naggregation = \"sum\"",
        "field",
        "sum needs a field",
    );
    refused(
        "entity = \"item\"\naggregation = \"max\"",
        "field",
        "max needs a field",
    );
    refused(
        "entity = \"item\"\naggregation = \"sum\"\nfield = \"item_id\"",
        "field",
        "not numeric",
    );
    refused(
        "entity = \"item\"\naggregation = \"last\"\nfield = \"properties.\"",
        "field",
        "properties.<key>",
    );
    refused(
        "entity = \"user\"\naggregation = \"last_n\"\nfield = \"item_id\"",
        "n",
        "between 1 and",
    );
    refused(
        "entity = \"user\"\naggregation = \"last_n\"\nfield = \"item_id\"\nn = 0",
        "n",
        "between 1 and",
    );
    refused(
        "entity = \"user\"\naggregation = \"count\"\nn = 5",
        "n",
        "only last_n",
    );
    refused(
        "entity = \"user\"\naggregation = \"count\"\ndistinct = true",
        "distinct",
        "only last_n",
    );
    refused(
        "entity = \"user\"\naggregation = \"decayed_sum\"",
        "half_life",
        "needs a half_life",
    );
    refused(
        "entity = \"user\"\naggregation = \"decayed_sum\"\nhalf_life = \"1w\"",
        "half_life",
        "not a duration",
    );
    refused(
        "entity = \"user\"\naggregation = \"sum\"\nfield = \"price\"\nhalf_life = \"1h\"",
        "half_life",
        "only decayed_sum",
    );
    refused(
        "entity = \"user\"\naggregation = \"count\"\nweights = { view = 1 }",
        "weights",
        "only sum and decayed_sum",
    );
    refused(
        "entity = \"user\"\naggregation = \"sum\"\nweights = { buy = 1 }",
        "weights.buy",
        "not an interaction kind",
    );
    refused(
        "entity = \"user\"\naggregation = \"sum\"\nweights = { view = -1 }",
        "weights.view",
        ">= 0",
    );
    refused(
        "entity = \"user\"\naggregation = \"count\"\ngroup_by = \"colour\"",
        "group_by",
        "not a field",
    );
    refused(
        "entity = \"user\"\naggregation = \"count\"\nnumerator = \"x\"",
        "numerator",
        "only aggregation = \"ratio\"",
    );
}

#[test]
fn ratios() {
    let with = |extra: &str| {
        compile(&format!(
            "defaults = false\n\
             [[define]]\nname = \"views\"\nentity = \"item\"\naggregation = \"count\"\n\
             [[define]]\nname = \"user_views\"\nentity = \"user\"\naggregation = \"count\"\n\
             [[define]]\nname = \"last\"\nentity = \"item\"\naggregation = \"last_n\"\nfield = \"item_id\"\nn = 2\n\
             [[define]]\nname = \"f\"\nentity = \"item\"\naggregation = \"ratio\"\n{extra}\n"
        ))
        .expect_err("bad ratio")
    };
    let check = |extra: &str, field: &str, hint: &str| {
        let err = with(extra);
        assert!(
            err.starts_with(&format!("features.define[3] (\"f\").{field}: ")) && err.contains(hint),
            "{err}"
        );
    };
    check(
        "denominator = \"views\"",
        "numerator",
        "needs numerator and denominator",
    );
    check(
        "numerator = \"views\"\ndenominator = \"nope\"",
        "denominator",
        "not a defined feature",
    );
    check(
        "numerator = \"views\"\ndenominator = \"user_views\"",
        "denominator",
        "same entity",
    );
    check(
        "numerator = \"last\"\ndenominator = \"views\"",
        "numerator",
        "not a single number",
    );
    check(
        "numerator = \"views\"\ndenominator = \"views\"\nwindow = \"1h\"",
        "window",
        "remove this setting",
    );
}

#[test]
fn section_settings_and_unknown_keys() {
    let err = compile("session_gap_secs = 0").expect_err("gap");
    assert_eq!(err, "features.session_gap_secs: must be greater than 0");
    let err = compile("entity_ttl_secs = 0").expect_err("ttl");
    assert_eq!(err, "features.entity_ttl_secs: must be greater than 0");
    let err = compile("lateness = 5").expect_err("unknown key");
    assert!(err.contains("lateness"), "{err}");
    let err = compile(
        "[[define]]\nname = \"f\"\nentity = \"item\"\naggregation = \"count\"\nwindows = \"1h\"\n",
    )
    .expect_err("unknown key");
    assert!(err.contains("windows"), "{err}");
    let err = compile(
        "[[define]]\nname = \"f\"\nentity = \"item\"\naggregation = \"count\"\nwhere = [{ property = \"a\", op = \"exists\", vlaue = 1 }]\n",
    )
    .expect_err("unknown key");
    assert!(err.contains("vlaue"), "{err}");
}
