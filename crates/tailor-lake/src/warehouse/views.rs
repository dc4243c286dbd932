//! The warehouse's views, in SQL over `events`.
//!
//! - `item_daily_stats` — per day (`dt` of the event time, UTC) and item: `views`, `clicks`,
//!   `add_to_carts`, `purchases` (interaction rows) and `revenue` = Σ price × quantity of
//!   purchases (a missing price counts 0, a missing quantity 1, as Segment's spec defaults).
//! - `funnel_daily` — per day: distinct users (user id, else anonymous id) with a view, a
//!   click, an add-to-cart and a purchase, and the step conversion rates between consecutive
//!   steps plus view→purchase (NULL when the step before had no users). Each step is counted
//!   on its own: a user who bought without a recorded view still counts as a purchaser.
//! - `recommendation_ctr` — per day and model/variant: `impressions` and `clicks` that carry
//!   a `rec_id`, and `ctr`. A `rec_id` is a UUID, so the model and variant come from the
//!   `model` / `variant` properties of the events carrying that `rec_id` (any of them, e.g.
//!   the impression); a `rec_id` whose events name none is grouped as `unknown`.

/// `(name, CREATE VIEW statement)` of every view.
pub const VIEWS: [(&str, &str); 3] = [
    ("item_daily_stats", ITEM_DAILY_STATS),
    ("funnel_daily", FUNNEL_DAILY),
    ("recommendation_ctr", RECOMMENDATION_CTR),
];

const ITEM_DAILY_STATS: &str = "
CREATE VIEW item_daily_stats AS
SELECT
    dt AS day,
    item_id,
    count(*) FILTER (WHERE interaction = 'view') AS views,
    count(*) FILTER (WHERE interaction = 'click') AS clicks,
    count(*) FILTER (WHERE interaction = 'add_to_cart') AS add_to_carts,
    count(*) FILTER (WHERE interaction = 'purchase') AS purchases,
    coalesce(
        sum(coalesce(price, 0.0) * coalesce(quantity, 1.0)) FILTER (WHERE interaction = 'purchase'),
        0.0
    ) AS revenue
FROM events
WHERE item_id IS NOT NULL
GROUP BY dt, item_id";

const FUNNEL_DAILY: &str = "
CREATE VIEW funnel_daily AS
SELECT
    day,
    users_viewed,
    users_clicked,
    users_added_to_cart,
    users_purchased,
    CAST(users_clicked AS DOUBLE) / NULLIF(users_viewed, 0) AS view_to_click_rate,
    CAST(users_added_to_cart AS DOUBLE) / NULLIF(users_clicked, 0) AS click_to_cart_rate,
    CAST(users_purchased AS DOUBLE) / NULLIF(users_added_to_cart, 0) AS cart_to_purchase_rate,
    CAST(users_purchased AS DOUBLE) / NULLIF(users_viewed, 0) AS view_to_purchase_rate
FROM (
    SELECT
        dt AS day,
        count(DISTINCT CASE WHEN interaction = 'view' THEN actor END) AS users_viewed,
        count(DISTINCT CASE WHEN interaction = 'click' THEN actor END) AS users_clicked,
        count(DISTINCT CASE WHEN interaction = 'add_to_cart' THEN actor END) AS users_added_to_cart,
        count(DISTINCT CASE WHEN interaction = 'purchase' THEN actor END) AS users_purchased
    FROM (
        SELECT dt, interaction, coalesce(user_id, anonymous_id) AS actor
        FROM events
        WHERE interaction IN ('view', 'click', 'add_to_cart', 'purchase')
    ) AS steps
    GROUP BY dt
) AS users";

const RECOMMENDATION_CTR: &str = "
CREATE VIEW recommendation_ctr AS
WITH attributed AS (
    SELECT
        dt,
        rec_id,
        interaction,
        json_get_str(properties, 'model') AS model,
        json_get_str(properties, 'variant') AS variant
    FROM events
    WHERE rec_id IS NOT NULL AND interaction IN ('impression', 'click')
),
recs AS (
    SELECT rec_id, max(model) AS model, max(variant) AS variant
    FROM attributed
    GROUP BY rec_id
)
SELECT
    a.dt AS day,
    coalesce(r.model, 'unknown') AS model,
    coalesce(r.variant, 'unknown') AS variant,
    count(*) FILTER (WHERE a.interaction = 'impression') AS impressions,
    count(*) FILTER (WHERE a.interaction = 'click') AS clicks,
    CAST(count(*) FILTER (WHERE a.interaction = 'click') AS DOUBLE)
        / NULLIF(count(*) FILTER (WHERE a.interaction = 'impression'), 0) AS ctr
FROM attributed AS a
JOIN recs AS r ON a.rec_id = r.rec_id
GROUP BY a.dt, coalesce(r.model, 'unknown'), coalesce(r.variant, 'unknown')";
