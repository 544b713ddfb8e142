-- One row per customer purchase day, labelled by whether the repeat-purchase chain continued.
-- A purchase continues the chain when the next one follows within $window_days days (day
-- $window_days included); it ended when no purchase followed and the whole window lies on or
-- before as_of; otherwise the outcome is not known yet and the label is open.
with

purchase_days as (
    select customer_id, purchase_date
    from main.customer_purchase_days
    where is_purchase_day
),

scope as (
    select as_of from main.analysis_scope
),

gaps as (
    select
        customer_id,
        purchase_date,
        lead(purchase_date) over by_customer - purchase_date as days_to_next,
        lag(purchase_date) over by_customer as previous_purchase_date
    from purchase_days
    window by_customer as (partition by customer_id order by purchase_date)
),

labelled as (
    select
        gaps.*,
        case
            when days_to_next <= $window_days then 'continued'
            when purchase_date + $window_days::integer <= (select as_of from scope) then 'ended'
            else 'open'
        end as chain_label,
        coalesce(purchase_date - previous_purchase_date > $window_days, true) as starts_chain
    from gaps
),

numbered as (
    select
        *,
        sum(starts_chain::integer) over (
            partition by customer_id order by purchase_date rows unbounded preceding
        ) as chain_number
    from labelled
)

select
    customer_id,
    customer_id || '#' || chain_number as chain_id,
    chain_number,
    row_number() over by_chain as chain_position,
    chain_label,
    days_to_next,
    count(*) over whole_chain as chain_length,
    purchase_date,
    min(purchase_date) over whole_chain as chain_start_date,
    max(purchase_date) over whole_chain as chain_end_date
from numbered
window
    by_chain as (partition by customer_id, chain_number order by purchase_date),
    whole_chain as (partition by customer_id, chain_number)
