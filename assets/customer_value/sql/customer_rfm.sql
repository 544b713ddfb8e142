-- Recency, frequency and monetary value per customer as of the analysis date, scored 1-5 against the
-- customer base and named by the RFM segment map (see the README). A purchase day is one purchase
-- however many orders it holds; refunds, also those on days without a purchase, reduce spend.
with

purchase_days as (
    select * from main.customer_purchase_days
),

scope as (
    select as_of from main.analysis_scope
),

per_customer as (
    select
        customer_id,
        count(*) filter (where is_purchase_day) as frequency,
        sum(net_amount) as total_net_spend,
        min(purchase_date) filter (where is_purchase_day) as first_purchase_date,
        max(purchase_date) filter (where is_purchase_day) as last_purchase_date,
        sum(net_amount) filter (where is_purchase_day)
            - arg_min(net_amount, purchase_date) filter (where is_purchase_day) as repeat_days_net_spend
    from purchase_days
    group by customer_id
    having count(*) filter (where is_purchase_day) > 0
),

measured as (
    select
        customer_id,
        scope.as_of - last_purchase_date as recency_days,
        frequency,
        total_net_spend / frequency as monetary,
        repeat_days_net_spend / nullif(frequency - 1, 0) as repeat_monetary,
        total_net_spend,
        scope.as_of - first_purchase_date as tenure_days,
        first_purchase_date,
        last_purchase_date
    from per_customer
    cross join scope
),

-- Quintile scores: 1 plus the number of quintile boundaries a value passes, so customers with
-- equal values always get equal scores (for recency, a smaller value passes a boundary).
-- The boundaries are quantile_disc's, read off how many customers have each value: the value at
-- 0-based position ceil(n q) - 1 of the sorted values, with q in tenths in integer arithmetic as
-- quantile_disc does it. A quantile aggregate would hold every customer's three values in memory,
-- unspilled (about 1 GB at 40M customers); counting spills like any grouping.
counted as (
    select 'recency' as measure, recency_days::double as value, count(*) as customers from measured group by recency_days
    union all
    select 'frequency', frequency::double, count(*) from measured group by frequency
    union all
    select 'monetary', monetary, count(*) from measured group by monetary
),

cumulative as (
    select
        measure,
        value,
        sum(customers) over (partition by measure order by value) as up_to_value,
        sum(customers) over (partition by measure) as total
    from counted
),

positions as (
    select distinct
        measure,
        tenths,
        greatest(1, total - (total * (10 - tenths)) // 10) - 1 as position
    from cumulative
    cross join (values (2), (4), (6), (8)) as fractions (tenths)
),

picked as (
    select positions.measure, positions.tenths, min(cumulative.value) filter (where cumulative.up_to_value > positions.position) as boundary
    from positions
    join cumulative on cumulative.measure = positions.measure
    group by positions.measure, positions.tenths
),

boundaries as (
    select
        [max(boundary) filter (where measure = 'recency' and tenths = 8), max(boundary) filter (where measure = 'recency' and tenths = 6),
         max(boundary) filter (where measure = 'recency' and tenths = 4), max(boundary) filter (where measure = 'recency' and tenths = 2)]
            as recency_boundaries,
        [max(boundary) filter (where measure = 'frequency' and tenths = 2), max(boundary) filter (where measure = 'frequency' and tenths = 4),
         max(boundary) filter (where measure = 'frequency' and tenths = 6), max(boundary) filter (where measure = 'frequency' and tenths = 8)]
            as frequency_boundaries,
        [max(boundary) filter (where measure = 'monetary' and tenths = 2), max(boundary) filter (where measure = 'monetary' and tenths = 4),
         max(boundary) filter (where measure = 'monetary' and tenths = 6), max(boundary) filter (where measure = 'monetary' and tenths = 8)]
            as monetary_boundaries
    from picked
),

scored as (
    select
        measured.*,
        1 + (recency_days < recency_boundaries[1])::integer + (recency_days < recency_boundaries[2])::integer
            + (recency_days < recency_boundaries[3])::integer + (recency_days < recency_boundaries[4])::integer
            as r_score,
        1 + (frequency > frequency_boundaries[1])::integer + (frequency > frequency_boundaries[2])::integer
            + (frequency > frequency_boundaries[3])::integer + (frequency > frequency_boundaries[4])::integer
            as f_score,
        1 + (monetary > monetary_boundaries[1])::integer + (monetary > monetary_boundaries[2])::integer
            + (monetary > monetary_boundaries[3])::integer + (monetary > monetary_boundaries[4])::integer
            as m_score
    from measured, boundaries
),

segmented as (
    select
        *,
        round((f_score + m_score) / 2)::integer as fm_score
    from scored
)

select
    customer_id,
    recency_days,
    frequency,
    monetary,
    repeat_monetary,
    total_net_spend,
    tenure_days,
    r_score,
    f_score,
    m_score,
    -- the three digits (scores are 1-5) by one integer-to-text cast, not three casts and two concatenations
    (100 * r_score + 10 * f_score + m_score)::varchar as rfm_score,
    case
        when r_score >= 4 and fm_score >= 4 then 'Champions'
        when r_score >= 3 and fm_score >= 3 then 'Loyal'
        when r_score >= 4 and frequency = 1 then 'New'
        when r_score >= 4 then 'Potential loyalists'
        when r_score = 3 and frequency = 1 then 'Promising'
        when r_score = 3 then 'Need attention'
        when r_score = 2 and fm_score >= 3 then 'At risk'
        when r_score = 2 then 'About to sleep'
        when fm_score >= 4 then 'Cannot lose them'
        when fm_score = 3 then 'At risk'
        when fm_score = 2 then 'Hibernating'
        else 'Lost'
    end as rfm_segment,
    first_purchase_date,
    last_purchase_date
from segmented
