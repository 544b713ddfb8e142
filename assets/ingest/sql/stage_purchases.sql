-- Type one purchases file and say, for every row, why it cannot be loaded (null when it can).
-- amount is what the customer paid for the line: given, or quantity x unit_price less the discount.
-- Returns keep their rows: negative quantity or amount, an is_return flag, or a return order-id
-- prefix all mark a return, stored with negative quantity and amount.
with

typed as (
    select
        source_row,
        raw,
        to_text(raw.order_id) as order_id,
        to_text(raw.customer_id) as customer_id,
        to_text(raw.product_id) as product_id,
        to_text(raw.store_id) as store_id,
        to_text(raw.category) as category,
        to_text(raw.channel) as channel,
        to_decimal(raw.quantity) as quantity,
        to_decimal(raw.unit_price) as unit_price,
        to_decimal(raw.amount) as amount,
        to_decimal(raw.discount) as discount,
        to_flag(raw.promo) as promo,
        to_flag(raw.is_return) as is_return_flag,
        to_local_timestamp(raw.order_ts, $timestamp_format) as order_ts
    from raw_rows
),

checked as (
    select
        *,
        coalesce(amount, line_total(quantity, unit_price, discount)) as line_amount,
        coalesce(
            missing(customer_id, 'customer_id'),
            required_timestamp(raw.order_ts, order_ts, 'order_ts', $run_started_at),
            unreadable_decimal(raw.quantity, quantity, 'quantity'),
            unreadable_decimal(raw.unit_price, unit_price, 'unit_price'),
            unreadable_decimal(raw.amount, amount, 'amount'),
            unreadable_decimal(raw.discount, discount, 'discount'),
            unreadable(raw.promo, promo, 'promo', 'unrecognised flag in'),
            unreadable(raw.is_return, is_return_flag, 'is_return', 'unrecognised flag in'),
            case when quantity is not null and unit_price is not null and line_amount is null
                then 'amount out of range' end,
            case when line_amount is null then 'missing amount (neither amount nor quantity and unit_price)' end,
            case when quantity = 0 then 'zero quantity' end,
            case when not $keep_zero_amounts and (unit_price = 0 or line_amount = 0) then 'zero price' end,
            case when unit_price < 0 then 'negative unit_price' end,
            exact_duplicate(source_row, $keep_exact_duplicates)
        ) as quarantine_reason
    from typed
),

flagged as (
    select
        *,
        coalesce(
            is_return_flag
            or quantity < 0
            or line_amount < 0
            or starts_with(order_id, $return_order_prefix),
            false
        ) as is_return
    from checked
)

select
    source_row,
    quarantine_reason,
    order_id,
    customer_id,
    product_id,
    store_id,
    category,
    channel,
    case when is_return then -abs(quantity) else quantity end as quantity,
    unit_price,
    case when is_return then -abs(line_amount) else line_amount end as amount,
    coalesce(abs(discount), 0) as discount,
    is_return,
    coalesce(discount <> 0, false) or coalesce(promo, false) as is_discounted,
    -- list_contains, not `in` with the list: Spark binds a list parameter as an array, which `in` does not take
    coalesce(list_contains($non_product_ids, product_id), false) as is_non_product,
    cast(order_ts as date) as order_date,
    order_ts
from flagged
