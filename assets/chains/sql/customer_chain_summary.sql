-- Per customer: how many chains, how long, how often a purchase was followed within the window,
-- and where the latest chain stands. Open purchases count neither as continued nor as ended.
with

purchase_chains as (
    select * from main.purchase_chains
),

scope as (
    select as_of from main.analysis_scope
),

per_customer as (
    select
        customer_id,
        max(chain_number) as n_chains,
        count(*) as n_purchase_days,
        count(*) filter (where chain_label = 'continued') as n_continued,
        count(*) filter (where chain_label = 'ended') as n_ended,
        max(chain_length) as max_chain_length,
        arg_max(chain_label, purchase_date) as latest_label,
        max(chain_end_date) as latest_chain_end_date
    from purchase_chains
    group by customer_id
)

select
    customer_id,
    n_chains,
    n_purchase_days,
    n_continued,
    n_ended,
    n_purchase_days / n_chains as mean_chain_length,
    max_chain_length,
    n_continued / nullif(n_continued + n_ended, 0) as share_continued,
    case when latest_label = 'ended' then (select as_of from scope) - latest_chain_end_date end
        as days_since_chain_end,
    latest_label = 'open' as has_open_chain
from per_customer
