-- Parsing rules shared by every staging model: raw values arrive as text, exactly as in the file.
create or replace temp macro is_blank(raw_value) as raw_value is null or trim(raw_value) = '';

create or replace temp macro to_text(raw_value) as nullif(trim(raw_value), '');

-- DuckDB's cast from text to a number skips surrounding whitespace and reads a blank as null, so
-- numbers need no trim of their own (its timestamp cast does not skip spaces after a bare date).
create or replace temp macro to_number(raw_value) as try_cast(raw_value as double);

create or replace temp macro to_flag(raw_value) as
    case
        when lower(trim(raw_value)) in ('1', 'true', 't', 'yes', 'y') then true
        when lower(trim(raw_value)) in ('0', 'false', 'f', 'no', 'n') then false
    end;

create or replace temp macro to_timestamp(raw_value, timestamp_format) as
    coalesce(
        try_cast(nullif(trim(raw_value), '') as timestamp),
        try_strptime(trim(raw_value), timestamp_format)
    );

-- Why a value that is present could not be read, or null when it reads fine (or is absent).
create or replace temp macro unreadable(raw_value, parsed_value, column_name, kind) as
    case when not is_blank(raw_value) and parsed_value is null then kind || ' ' || column_name end;
