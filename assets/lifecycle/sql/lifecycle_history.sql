-- The stage of every customer at each month end, in one pass: each purchase day holds from its date
-- until the next one, so joining those spans to the month ends gives every customer's latest purchase,
-- purchase count and spend at each snapshot. The stage rules are those of customer_lifecycle
-- (stage_rules.sql); P(alive) of past snapshots is unknown, so its rules never hold here and the
-- history uses the recency, frequency and spend forms of the rules.
with

purchase_days as (
    select customer_id, purchase_date, net_amount
    from main.customer_purchase_days
    where is_purchase_day
),

scope as (
    select as_of, first_order_date from main.analysis_scope
),

-- unnest(generate_series(...)) in a select list, not range() in the from clause: the one form of a
-- series of months that Spark (explode(sequence(...))) reads the same way
month_ends as (
    select last_day(month_start)::date as snapshot_date
    from (select unnest(generate_series(date_trunc('month', first_order_date), as_of, interval 1 month)) as month_start, as_of from scope)
    where last_day(month_start) <= as_of
),

spans as (
    select
        customer_id,
        purchase_date,
        lead(purchase_date) over by_customer as next_purchase_date,
        purchase_date - lag(purchase_date) over by_customer as gap_before,
        row_number() over by_customer as purchase_days_so_far,
        sum(net_amount) over (by_customer rows unbounded preceding) as spend_so_far,
        -- the first of the customer's ordered days: the one sort the other columns share
        first_value(purchase_date) over by_customer as first_purchase_date
    from purchase_days
    window by_customer as (partition by customer_id order by purchase_date)
),

snapshots as (
    select
        month_ends.snapshot_date,
        spans.customer_id,
        month_ends.snapshot_date - spans.purchase_date as recency_days,
        month_ends.snapshot_date - spans.first_purchase_date as tenure_days,
        spans.gap_before,
        spans.purchase_days_so_far,
        spans.spend_so_far
    from spans
    join month_ends
        on month_ends.snapshot_date >= spans.purchase_date
        and (spans.next_purchase_date is null or month_ends.snapshot_date < spans.next_purchase_date)
),

-- The VIP rank, cume_dist() over each month end's buyers within lapsed_days by spend from the top: the
-- share of them spending at least as much. Counted per distinct spend (1.5M month-end spends at 10M
-- lines) and joined back, where a window over the 50M snapshot rows sorted them all, wide, and spilled.
spend_counts as (
    select month_ends.snapshot_date, spans.spend_so_far, count(*) as customers
    from spans
    join month_ends
        on month_ends.snapshot_date >= spans.purchase_date
        and (spans.next_purchase_date is null or month_ends.snapshot_date < spans.next_purchase_date)
        and month_ends.snapshot_date - spans.purchase_date <= $lapsed_days
    group by month_ends.snapshot_date, spans.spend_so_far
),

spend_ranks as (
    select
        snapshot_date,
        spend_so_far,
        cast(sum(customers) over (partition by snapshot_date order by spend_so_far desc) as double)
            / cast(sum(customers) over (partition by snapshot_date) as double) as spend_share_rank
    from spend_counts
),

-- Only the ranks within the top share are joined back: a lower rank makes no VIP, and a rank left
-- unknown makes none either (the rule does not hold), so every stage is the same, and the 50M
-- snapshot rows probe a hash table of the top month-end spends instead of all 1.5M.
top_spend_ranks as (
    select snapshot_date, spend_so_far, spend_share_rank
    from spend_ranks
    where spend_share_rank <= $vip_top_share
),

ranked as (
    select
        snapshots.*,
        top_spend_ranks.spend_share_rank
    from snapshots
    left join top_spend_ranks
        on top_spend_ranks.snapshot_date = snapshots.snapshot_date
        and top_spend_ranks.spend_so_far = snapshots.spend_so_far
        and snapshots.recency_days <= $lapsed_days
)

select
    snapshot_date,
    customer_id,
    rule_stage(buyer_rule(
        recency_days, null, null, gap_before, tenure_days, purchase_days_so_far, spend_share_rank,
        median_days_between_purchases,
        $lapsed_days, $lapsed_p_alive, $new_customer_days, $at_risk_p_alive, $one_time_buyer_risk_multiple,
        $vip_top_share
    )) as stage,
    recency_days,
    purchase_days_so_far,
    spend_so_far
from ranked, typical_interval()
