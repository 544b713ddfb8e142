-- When the models cannot be trusted, every customer still gets a row: no invented numbers, and
-- the status says why (lifecycle rules then fall back to recency and spend).
select
    customer_id,
    null::double as p_alive,
    frequency = 0 as is_one_time_buyer,
    null::double as expected_purchases_30d,
    null::double as expected_purchases_90d,
    null::double as expected_purchases_365d,
    null::double as expected_avg_order_value,
    null::double as clv_12m,
    null::integer as clv_decile,
    null::varchar as value_tier,
    $status as clv_status
from clv_summary
