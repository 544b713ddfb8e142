-- One recommended action per customer and prospect (rules v1, first match wins; thresholds under
-- `lifecycle:` in the config):
--   prospect_active    -> first_purchase_offer     engaged lately but never bought
--   prospect_inactive  -> prospect_nurture         low-cost newsletter only
--   new, one purchase, first purchase within $welcome_days days -> welcome_series
--   new, one purchase  -> second_purchase_nudge    timed at the second-purchase target
--   new, repeat buyer  -> cross_sell (bought one category, an offer exists) or loyalty_invite
--   reactivated        -> welcome_back
--   vip                -> vip_care_referral_ask
--   at_risk            -> retention_offer (top $win_back_top_value_share of buyers by past net spend)
--                         or reminder_email
--   lapsed, top past net spend (same share) -> win_back_offer
--   lapsed, engaged by email or site in the last $engagement_days days -> win_back_email
--   lapsed, otherwise  -> stop_spending            silent despite contact: keep out of paid campaigns
--   active             -> cross_sell, then repurchase_reminder (its remind_on date, reminder_lead_days
--                         before the repurchase window, has come), then keep_chain_going (a repeat
--                         chain is open), else no_contact
-- Expected value is the 12-month CLV, or one purchase at the customer's mean spend where the model
-- gave none. Every buyer is excluded from acquisition ads.
with

lifecycle as (
    select customer_id, stage, is_prospect from main.customer_lifecycle
),

scope as (
    select as_of from main.analysis_scope
),

buyers as (
    select
        rfm.customer_id,
        rfm.frequency,
        rfm.tenure_days,
        rfm.recency_days,
        rfm.monetary,
        clv.clv_12m,
        coalesce(clv.clv_12m, rfm.total_net_spend) as value,
        -- the model gives lapsing customers almost no future value, so win-back ranks by past spend
        cume_dist() over (order by rfm.total_net_spend desc) as past_value_rank_share
    from main.customer_rfm as rfm
    left join main.customer_clv as clv using (customer_id)
),

first_purchase_value as (
    select avg(first_day_amount) as mean_first_purchase_value
    from (
        select arg_min(net_amount, purchase_date) as first_day_amount
        from main.customer_purchase_days
        where is_purchase_day
        group by customer_id
    )
),

top_offer as (
    select customer_id, bought_category, offer_category, offer_basis, lift
    from main.cross_sell_candidates
    where offer_rank = 1
),

engaged as (
    select customer_id, max(event_ts)::date as last_engaged_date
    from main.events
    cross join scope
    where event_ts::date between scope.as_of - $engagement_days and scope.as_of
        and event_type in ('email_open', 'email_click', 'site_visit')
    group by customer_id
),

segments as (
    select customer_id, any_value(segment_name) as survey_segment
    from main.survey_segments
    where customer_id is not null and segment_name is not null
    group by customer_id
),

facts as (
    select
        lifecycle.customer_id,
        lifecycle.stage,
        lifecycle.is_prospect,
        buyers.frequency,
        buyers.tenure_days,
        buyers.recency_days,
        buyers.monetary,
        buyers.clv_12m,
        buyers.value,
        buyers.past_value_rank_share,
        top_offer.bought_category,
        top_offer.offer_category,
        windows.remind_on,
        windows.window_status,
        windows.expected_date,
        chains.has_open_chain,
        chains.n_purchase_days,
        engaged.last_engaged_date,
        segments.survey_segment,
        scope.as_of,
        (select count(*) > 0 from main.events) as has_events
    from lifecycle
    cross join scope
    left join buyers using (customer_id)
    left join top_offer using (customer_id)
    left join main.repurchase_windows as windows using (customer_id)
    left join main.customer_chain_summary as chains using (customer_id)
    left join engaged using (customer_id)
    left join segments using (customer_id)
),

actions as (
    select
        *,
        case
            when stage = 'prospect_active' then 'first_purchase_offer'
            when stage = 'prospect_inactive' then 'prospect_nurture'
            when stage = 'new' and frequency = 1 and tenure_days <= $welcome_days then 'welcome_series'
            when stage = 'new' and frequency = 1 then 'second_purchase_nudge'
            when stage = 'new' and offer_category is not null then 'cross_sell'
            when stage = 'new' then 'loyalty_invite'
            when stage = 'reactivated' then 'welcome_back'
            when stage = 'vip' then 'vip_care_referral_ask'
            when stage = 'at_risk' and past_value_rank_share <= $win_back_top_value_share then 'retention_offer'
            when stage = 'at_risk' then 'reminder_email'
            when stage = 'lapsed' and past_value_rank_share <= $win_back_top_value_share then 'win_back_offer'
            when stage = 'lapsed' and last_engaged_date is not null then 'win_back_email'
            when stage = 'lapsed' then 'stop_spending'
            when offer_category is not null then 'cross_sell'
            when remind_on <= as_of then 'repurchase_reminder'
            when has_open_chain then 'keep_chain_going'
            else 'no_contact'
        end as action
    from facts
)

select
    customer_id,
    stage,
    action,
    case action
        when 'first_purchase_offer' then 'prospect engaged in the last days but has not bought: offer a first-purchase incentive'
        when 'prospect_nurture' then 'prospect without recent engagement: newsletter only, no paid contact'
        when 'welcome_series' then format('first purchase {} days ago: welcome series', tenure_days)
        -- the base may not show when second purchases come (too few of them): then no target date
        when 'second_purchase_nudge' then format('one purchase, {} days ago: nudge a second purchase', tenure_days)
            || coalesce(format(' by {}', expected_date), '')
        when 'cross_sell' then format('bought only {}: offer {}', bought_category, offer_category)
        when 'loyalty_invite' then format('new and already bought on {} days: invite to the loyalty programme', frequency)
        when 'welcome_back' then 'bought again after a long gap: welcome back, keep the momentum'
        when 'vip_care_referral_ask' then 'top value customer: VIP care and a referral ask, no discounts'
        when 'retention_offer' then format('at risk and in the top {:.0f}% by past spend: personal retention offer', 100 * $win_back_top_value_share)
        when 'reminder_email' then 'at risk, lower value: reminder without discount'
        when 'win_back_offer' then format('lapsed, in the top {:.0f}% by past spend: win-back offer', 100 * $win_back_top_value_share)
        when 'win_back_email' then format('lapsed, lower value, engaged on {}: win-back email without incentive', last_engaged_date)
        when 'stop_spending' then
            case when has_events
                then format('lapsed, lower value, no email or site engagement in the last {} days: stop paid contact', $engagement_days)
                else 'lapsed, lower value, no engagement data: stop paid contact'
            end
        when 'repurchase_reminder' then
            case when expected_date < as_of
                then format('next purchase was expected around {} and is overdue: reminder now', expected_date)
                else format('next purchase expected around {}: reminder on {}', expected_date, greatest(remind_on, as_of))
            end
        when 'keep_chain_going' then 'bought within the chain window: a nudge now continues the repeat chain'
        else 'active, nothing due: no contact this time'
    end || coalesce('; survey segment: ' || survey_segment, '') as action_reason,
    offer_category as cross_sell_category,
    case
        when action = 'repurchase_reminder' then greatest(remind_on, as_of)
        when action = 'second_purchase_nudge' then greatest(remind_on, as_of)
        else as_of
    end as contact_on,
    case
        when is_prospect then (select mean_first_purchase_value from first_purchase_value)
        when clv_12m is not null then clv_12m
        else monetary
    end as expected_value,
    case
        when is_prospect then 'mean first purchase of the base'
        when clv_12m is not null then '12-month CLV'
        else 'mean spend per purchase day (no CLV)'
    end as expected_value_basis,
    survey_segment,
    not is_prospect as exclude_from_acquisition_ads,
    'v1' as rules_version
from actions
