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
        max(purchase_date) filter (where is_purchase_day) as last_purchase_date
    from purchase_days
    group by customer_id
    having count(*) filter (where is_purchase_day) > 0
),

measured as (
    select
        customer_id,
        (select as_of from scope) - last_purchase_date as recency_days,
        frequency,
        total_net_spend / frequency as monetary,
        total_net_spend,
        (select as_of from scope) - first_purchase_date as tenure_days,
        first_purchase_date,
        last_purchase_date
    from per_customer
),

-- Quintiles by rank, so customers with equal values always get equal scores. The rank of a value
-- is the number of customers before it, counted once per distinct value rather than per customer.
customers as (
    select count(*) as n from measured
),

recency_scores as (
    select
        recency_days,
        least(5, 1 + floor(5 * (sum(count(*)) over (order by recency_days desc) - count(*)) / any_value(n)))::integer
            as r_score
    from measured, customers
    group by recency_days
),

frequency_scores as (
    select
        frequency,
        least(5, 1 + floor(5 * (sum(count(*)) over (order by frequency) - count(*)) / any_value(n)))::integer
            as f_score
    from measured, customers
    group by frequency
),

monetary_scores as (
    select
        monetary,
        least(5, 1 + floor(5 * (sum(count(*)) over (order by monetary) - count(*)) / any_value(n)))::integer
            as m_score
    from measured, customers
    group by monetary
),

scored as (
    select measured.*, r_score, f_score, m_score
    from measured
    join recency_scores using (recency_days)
    join frequency_scores using (frequency)
    join monetary_scores using (monetary)
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
    total_net_spend,
    tenure_days,
    r_score,
    f_score,
    m_score,
    r_score::varchar || f_score::varchar || m_score::varchar as rfm_score,
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
