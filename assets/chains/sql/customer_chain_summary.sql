-- Per customer: how many chains, how long, how often a purchase was followed within the window,
-- and where the latest chain stands. Open purchases count neither as continued nor as ended.
-- One grouping over plain maxima, a count and one flag: the rest follows from how purchase_chains
-- labels the days (assets/chains/sql/purchase_chains.sql), so the labels need not be counted:
-- - every day of a chain but its last is continued, so continued days = days - chains;
-- - a chain's last day is ended, except the customer's last day, which is open while its window
--   reaches past as_of, so a customer has at most one open day, on the latest chain.
-- Whether that day is open is read from its label, not recomputed from the window: the summary
-- follows the labels purchase_chains was built with.
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
        max(chain_length) as max_chain_length,
        max(chain_end_date) as latest_chain_end_date,
        bool_or(chain_label = 'open') as has_open_chain
    from purchase_chains
    group by customer_id
)

select
    customer_id,
    n_chains,
    n_purchase_days,
    n_purchase_days - n_chains as n_continued,
    (n_chains - has_open_chain::integer)::bigint as n_ended,
    n_purchase_days / n_chains as mean_chain_length,
    max_chain_length,
    (n_purchase_days - n_chains) / nullif(n_purchase_days - has_open_chain::integer, 0) as share_continued,
    case when not has_open_chain then (select as_of from scope) - latest_chain_end_date end as days_since_chain_end,
    has_open_chain
from per_customer
