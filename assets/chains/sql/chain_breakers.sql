-- What stands on the purchases that end a chain, against those that continue one: per category,
-- product, channel and discount use, the share of purchase days that ended the chain, its lift over
-- the base rate, and a one-proportion z-test against the base rate. Values seen on fewer than
-- $min_support decided purchase days, or not significant at 5%, are kept but not flagged.
with

decided as (
    select customer_id, purchase_date, chain_label = 'ended' as is_ended
    from main.purchase_chains
    where chain_label in ('continued', 'ended')
),

decided_lines as (
    select
        lines.customer_id,
        lines.order_date as purchase_date,
        lines.category,
        lines.product_id,
        lines.channel,
        case when lines.is_discounted then 'discounted' else 'full price' end as discount,
        decided.is_ended
    from main.purchase_lines as lines
    join decided on decided.customer_id = lines.customer_id and decided.purchase_date = lines.order_date
    where not lines.is_return
),

-- Each value counts once per purchase day, however many lines carry it; one scan, four groupings.
day_attributes as (
    select
        case
            when grouping(category) = 0 then 'category'
            when grouping(product_id) = 0 then 'product'
            when grouping(channel) = 0 then 'channel'
            else 'discount'
        end as dimension,
        coalesce(category, product_id, channel, discount) as value,
        any_value(is_ended) as is_ended
    from decided_lines
    group by grouping sets (
        (customer_id, purchase_date, category),
        (customer_id, purchase_date, product_id),
        (customer_id, purchase_date, channel),
        (customer_id, purchase_date, discount)
    )
),

base as (
    select avg(is_ended::double) as base_end_rate
    from decided
),

counted as (
    select
        dimension,
        value,
        count(*) as purchase_days,
        count(*) filter (where is_ended) as ended,
        count(*) filter (where not is_ended) as continued
    from day_attributes
    where value is not null
    group by dimension, value
),

scored as (
    select
        counted.*,
        ended / purchase_days as end_rate,
        base_end_rate,
        (ended / purchase_days) / nullif(base_end_rate, 0) as lift,
        (ended / purchase_days - base_end_rate)
            / nullif(sqrt(base_end_rate * (1 - base_end_rate) / purchase_days), 0) as z_score
    from counted, base
)

select
    dimension,
    value,
    purchase_days,
    ended,
    continued,
    end_rate,
    base_end_rate,
    lift,
    z_score,
    purchase_days >= $min_support and z_score > 1.96 as is_chain_breaker,
    purchase_days >= $min_support and z_score < -1.96 as is_chain_keeper,
    row_number() over (
        partition by dimension
        -- value last: attributes equal in support, lift and days are ranked the same way on every run and engine
        order by (purchase_days >= $min_support) desc, lift desc, purchase_days desc, value
    ) as breaker_rank
from scored
