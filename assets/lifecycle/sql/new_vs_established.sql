-- New customers (first purchase within $new_customer_days days of as_of) against established ones,
-- side by side, over the same recent window (from as_of - $new_customer_days on). Activity compares
-- every customer of the group; the other measures compare those who bought in the window. A
-- measure the data cannot support (no categories, channels or discount flags) is null, with a note.
with

scope as (
    select as_of, as_of - $new_customer_days as window_opens from main.analysis_scope
),

customer_groups as (
    select
        customer_id,
        case when tenure_days <= $new_customer_days then 'new' else 'established' end as customer_group
    from main.customer_rfm
),

window_lines as (
    select purchase_lines.*
    from main.purchase_lines
    cross join scope
    where not is_return and order_date >= scope.window_opens
),

available as (
    select
        count(category) > 0 as has_categories,
        count(channel) > 0 as has_channels,
        bool_or(is_discounted) as has_discounts
    from window_lines
),

window_customers as (
    select
        customer_id,
        count(distinct order_date) as purchase_days,
        -- lines without an order id form one order per timestamp
        count(distinct coalesce(order_id, order_ts::varchar)) as orders,
        max(order_date) as last_purchase_date,
        count(distinct category) as categories,
        sum(amount) as spend,
        count(*) as lines,
        count(*) filter (where is_discounted) as discounted_lines
    from window_lines
    group by customer_id
),

members as (
    select
        customer_groups.customer_group,
        customer_groups.customer_id,
        window_customers.customer_id is not null as bought_in_window,
        window_customers.* exclude (customer_id)
    from customer_groups
    left join window_customers using (customer_id)
),

group_measures as (
    select
        customer_group,
        count(*) as customers,
        count(*) filter (where bought_in_window) as buyers,
        avg(bought_in_window::integer) as share_bought_in_window,
        avg(coalesce((as_of - last_purchase_date) <= 30, false)::integer) as share_bought_last_30_days,
        avg(purchase_days) as purchase_days_per_buyer,
        avg((purchase_days >= 2)::integer) filter (where bought_in_window) as share_repeat_buyers,
        sum(spend) / sum(orders) as avg_order_value,
        avg(spend) as spend_per_buyer,
        avg(categories) filter (where bought_in_window) as categories_per_buyer,
        avg((categories >= 2)::integer) filter (where bought_in_window) as share_multi_category_buyers,
        sum(discounted_lines) / sum(lines) as share_lines_discounted,
        avg((discounted_lines > 0)::integer) filter (where bought_in_window) as share_buyers_using_discounts
    from members
    cross join scope
    group by customer_group
),

channel_measures as (
    select
        customer_groups.customer_group,
        'share of buyers using channel ' || window_lines.channel as measure,
        count(distinct window_lines.customer_id) as channel_buyers
    from window_lines
    join customer_groups using (customer_id)
    where window_lines.channel is not null
    group by all
),

long_measures as (
    select customer_group, measure, value
    from (
        select customer_group,
            customers::double as customers, share_bought_in_window, share_bought_last_30_days,
            purchase_days_per_buyer, share_repeat_buyers, avg_order_value, spend_per_buyer,
            categories_per_buyer, share_multi_category_buyers, share_lines_discounted,
            share_buyers_using_discounts
        from group_measures
    ) unpivot include nulls (
        value for measure in (
            customers, share_bought_in_window, share_bought_last_30_days, purchase_days_per_buyer,
            share_repeat_buyers, avg_order_value, spend_per_buyer, categories_per_buyer,
            share_multi_category_buyers, share_lines_discounted, share_buyers_using_discounts
        )
    )
),

all_measures as (
    select customer_group, measure, value::double as value from long_measures
    union all
    select channel_measures.customer_group, channel_measures.measure,
        channel_measures.channel_buyers / nullif(group_measures.buyers, 0)
    from channel_measures
    join group_measures using (customer_group)
),

topics as (
    select * from (values
        ('customers', 'size', 1),
        ('share_bought_in_window', 'activity', 2),
        ('share_bought_last_30_days', 'activity', 3),
        ('purchase_days_per_buyer', 'repeat purchases', 4),
        ('share_repeat_buyers', 'repeat purchases', 5),
        ('avg_order_value', 'order value', 6),
        ('spend_per_buyer', 'order value', 7),
        ('categories_per_buyer', 'cross-category buying', 8),
        ('share_multi_category_buyers', 'cross-category buying', 9),
        ('share_lines_discounted', 'response to discounts', 11),
        ('share_buyers_using_discounts', 'response to discounts', 12)
    ) as t(measure, topic, position)
),

compared as (
    select
        coalesce(topics.topic, 'channel use') as topic,
        all_measures.measure,
        coalesce(topics.position, 10) as position,
        max(value) filter (where customer_group = 'new') as new_customers,
        max(value) filter (where customer_group = 'established') as established_customers
    from all_measures
    left join topics using (measure)
    group by all
)

select
    compared.topic,
    compared.measure,
    case
        when compared.topic = 'cross-category buying' and not available.has_categories then null
        when compared.topic = 'response to discounts' and not available.has_discounts then null
        else compared.new_customers
    end as new_customers,
    case
        when compared.topic = 'cross-category buying' and not available.has_categories then null
        when compared.topic = 'response to discounts' and not available.has_discounts then null
        else compared.established_customers
    end as established_customers,
    case
        when compared.topic = 'cross-category buying' and not available.has_categories then null
        when compared.topic = 'response to discounts' and not available.has_discounts then null
        else compared.new_customers / nullif(compared.established_customers, 0)
    end as new_to_established_ratio,
    case
        when compared.topic = 'cross-category buying' and not available.has_categories
            then 'not available: the purchases have no categories'
        when compared.topic = 'response to discounts' and not available.has_discounts
            then 'not available: no discounted purchase in the window (no discount or promo data?)'
        when compared.topic in ('size', 'activity') then 'all customers of the group'
        else 'customers who bought in the last ' || $new_customer_days || ' days'
    end as note
from compared
cross join available
order by compared.position, compared.measure
