-- The action lists: every row of next_best_action once, with what a CRM or e-mail tool needs to act
-- on it: the contact columns of the customers file that the config names (report.contact_columns),
-- when to contact, the reason in words, the expected value and the survey segment.
select
    nba.action,
    nba.customer_id,
    {contact_columns}nba.contact_on,
    nba.action_reason,
    round(nba.expected_value, 2) as expected_value,
    nba.expected_value_basis,
    nba.survey_segment,
    nba.cross_sell_category,
    nba.stage
from main.next_best_action as nba
left join main.customers as customers using (customer_id)
