-- The lifecycle stage rules, rules_version v1, written once: customer_lifecycle.sql takes each
-- person's stage and stage_rule from them, lifecycle_history.sql the stage at each month end.
-- buyer_rule names the first rule that holds ('<stage>/<which form of it>'), the stage is the part
-- before the slash, and buyer_rule_text says the rule with the customer's own numbers. A rule
-- whose input is unknown (P(alive) of one-time buyers and of past month ends) does not hold. A repeat
-- buyer whose P(alive) the model cannot give (no_p_alive_reason, e.g. the model's status that it is
-- not informative) is judged by recency as a one-time buyer is.
-- Thresholds come from the lifecycle: config as arguments: DuckDB macros cannot take query parameters.

create or replace temp macro buyer_rule(
    recency_days, p_alive, no_p_alive_reason, gap_before_latest_purchase, tenure_days, frequency, value_share_rank,
    median_days_between_purchases,
    lapsed_days, lapsed_p_alive, new_customer_days, at_risk_p_alive, one_time_buyer_risk_multiple, vip_top_share
) as
    case
        when recency_days > lapsed_days then 'lapsed/recency'
        when p_alive < lapsed_p_alive then 'lapsed/p_alive'
        when gap_before_latest_purchase > lapsed_days and recency_days <= new_customer_days then 'reactivated/gap'
        when tenure_days <= new_customer_days then 'new/tenure'
        when p_alive < at_risk_p_alive then 'at_risk/p_alive'
        when frequency = 1 and recency_days > one_time_buyer_risk_multiple * median_days_between_purchases
            then 'at_risk/one_time_buyer'
        when no_p_alive_reason is not null and recency_days > one_time_buyer_risk_multiple * median_days_between_purchases
            then 'at_risk/recency_without_p_alive'
        when value_share_rank <= vip_top_share then 'vip/value'
        else 'active/otherwise'
    end;

create or replace temp macro rule_stage(rule) as split_part(rule, '/', 1);

create or replace temp macro buyer_rule_text(
    rule, recency_days, p_alive, no_p_alive_reason, gap_before_latest_purchase, tenure_days, value_is_clv,
    median_days_between_purchases,
    lapsed_days, lapsed_p_alive, new_customer_days, at_risk_p_alive, one_time_buyer_risk_multiple, vip_top_share
) as
    case rule
        when 'lapsed/recency' then format('lapsed: no purchase for {} days (more than {})', recency_days, lapsed_days)
        when 'lapsed/p_alive' then format('lapsed: P(alive) {:.2f} below {}', p_alive, lapsed_p_alive)
        when 'reactivated/gap'
            then format('reactivated: bought again after {} days without a purchase', gap_before_latest_purchase)
        when 'new/tenure' then format('new: first purchase {} days ago (within {})', tenure_days, new_customer_days)
        when 'at_risk/p_alive' then format('at risk: P(alive) {:.2f} below {}', p_alive, at_risk_p_alive)
        when 'at_risk/one_time_buyer'
            then format('at risk: one purchase, {} days ago (more than {} x the typical {} days between purchases)',
                recency_days, one_time_buyer_risk_multiple, median_days_between_purchases)
        when 'at_risk/recency_without_p_alive'
            then format('at risk: last purchase {} days ago (more than {} x the typical {} days between purchases), '
                || 'judged by recency as P(alive) is not available: {}',
                recency_days, one_time_buyer_risk_multiple, median_days_between_purchases, no_p_alive_reason)
        when 'vip/value'
            then format('vip: top {:.0f}% by {}', 100 * vip_top_share,
                case when value_is_clv then '12-month CLV' else 'net spend (no CLV available)' end)
        else 'active: bought in the last ' || lapsed_days || ' days, not new, at risk or VIP'
    end;

create or replace temp macro prospect_rule(days_since_engagement, prospect_active_days) as
    case when days_since_engagement <= prospect_active_days then 'prospect_active' else 'prospect_inactive' end;

create or replace temp macro prospect_rule_text(rule, days_since_engagement, prospect_active_days) as
    case
        when rule = 'prospect_active'
            then format('prospect, active: last engaged {} days ago (within {})', days_since_engagement, prospect_active_days)
        when days_since_engagement is null then 'prospect, inactive: registered, no engagement recorded'
        else format('prospect, inactive: last engaged {} days ago', days_since_engagement)
    end;

-- The base's median days between consecutive purchase days (30 when nobody bought twice): the
-- yardstick of the at-risk rule for buyers without a P(alive). repeat_timing publishes it, read off
-- a count per interval length: one number for the report and the rules, and no sort of every
-- customer's purchase days nor every interval held in memory to find it again.
create or replace temp macro typical_interval() as table
    select coalesce(max(median_days), 30) as median_days_between_purchases
    from main.repeat_timing
    where measure = 'days_between_purchases' and category = '(all)';
