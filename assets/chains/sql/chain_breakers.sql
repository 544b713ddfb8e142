-- What stands on the purchases that end a chain, against those that continue one: per category,
-- product, channel and discount use, the share of purchase days that ended the chain, its lift over
-- the base rate, and a one-proportion z-test against the base rate. Values seen on fewer than
-- $min_support decided purchase days, or not significant at 5%, are kept but not flagged.
with

-- Each decided day gets a number: the lines are joined to their day once, and from then on a day
-- is one integer, which groups far faster than (customer_id, purchase_date). A numbering without an
-- order is an arbitrary key (Spark has no row_number without one: common/dialects.py).
decided as (
    select
        customer_id,
        purchase_date,
        chain_label = 'ended' as is_ended,
        row_number() over () as day_id
    from main.purchase_chains
    where chain_label in ('continued', 'ended')
),

decided_lines as (
    select
        decided.day_id,
        decided.is_ended,
        lines.category,
        lines.product_id,
        lines.channel,
        coalesce(lines.is_discounted, false) as is_discounted
    from main.purchase_lines as lines
    join decided on decided.customer_id = lines.customer_id and decided.purchase_date = lines.order_date
    where not lines.is_return
),

-- Each value counts once per purchase day, however many lines carry it: one narrow grouping per
-- dimension over the joined lines, a missing value dropped before it is grouped.
day_attributes as (
    select 'category' as dimension, category as value, is_ended
    from decided_lines
    where category is not null
    group by day_id, is_ended, category
    union all
    select 'product', product_id, is_ended
    from decided_lines
    where product_id is not null
    group by day_id, is_ended, product_id
    union all
    select 'channel', channel, is_ended
    from decided_lines
    where channel is not null
    group by day_id, is_ended, channel
    union all
    select 'discount', case when is_discounted then 'discounted' else 'full price' end, is_ended
    from decided_lines
    group by day_id, is_ended, is_discounted
),

base as (
    select avg((chain_label = 'ended')::double) as base_end_rate
    from main.purchase_chains
    where chain_label in ('continued', 'ended')
),

counted as (
    select
        dimension,
        value,
        count(*) as purchase_days,
        count(*) filter (where is_ended) as ended,
        count(*) filter (where not is_ended) as continued
    from day_attributes
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
