-- One row per customer purchase day, labelled by whether the repeat-purchase chain continued.
-- A purchase continues the chain when the next one follows within $window_days days (day
-- $window_days included); it ended when no purchase followed and the whole window lies on or
-- before as_of; otherwise the outcome is not known yet and the label is open.
-- A chain is identified by (customer_id, chain_number), chains numbered from 1 per customer.
-- Two ordered passes over the purchase days: the first finds each day's neighbours, the second
-- numbers the chains and, looking forward, finds where each chain ends.
with

purchase_days as (
    select customer_id, purchase_date
    from main.customer_purchase_days
    where is_purchase_day
),

scope as (
    select as_of from main.analysis_scope
),

neighbours as (
    select
        customer_id,
        purchase_date,
        lead(purchase_date) over by_customer - purchase_date as days_to_next,
        coalesce(purchase_date - lag(purchase_date) over by_customer > $window_days, true) as starts_chain,
        row_number() over by_customer as purchase_number
    from purchase_days
    window by_customer as (partition by customer_id order by purchase_date)
),

labelled as (
    select
        *,
        case
            when days_to_next <= $window_days then 'continued'
            when purchase_date + $window_days::integer <= (select as_of from scope) then 'ended'
            else 'open'
        end as chain_label
    from neighbours
),

chained as (
    select
        customer_id,
        purchase_date,
        days_to_next,
        chain_label,
        purchase_number,
        (sum(starts_chain::integer) over up_to_here)::integer as chain_number,
        max(case when starts_chain then purchase_number end) over up_to_here as chain_first_number,
        max(case when starts_chain then purchase_date end) over up_to_here as chain_start_date,
        min(case when chain_label <> 'continued' then purchase_number end) over from_here as chain_last_number,
        min(case when chain_label <> 'continued' then purchase_date end) over from_here as chain_end_date
    from labelled
    window
        up_to_here as (partition by customer_id order by purchase_date rows between unbounded preceding and current row),
        from_here as (partition by customer_id order by purchase_date rows between current row and unbounded following)
)

select
    customer_id,
    chain_number,
    purchase_number - chain_first_number + 1 as chain_position,
    chain_label,
    days_to_next,
    chain_last_number - chain_first_number + 1 as chain_length,
    purchase_date,
    chain_start_date,
    chain_end_date
from chained
