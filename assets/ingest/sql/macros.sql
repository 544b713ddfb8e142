-- Parsing rules shared by every staging model: raw values arrive as text, exactly as in the file.
create or replace temp macro is_blank(raw_value) as raw_value is null or trim(raw_value) = '';

create or replace temp macro to_text(raw_value) as nullif(trim(raw_value), '');

-- DuckDB's cast from text to a number skips surrounding whitespace and reads a blank as null, so
-- numbers need no trim of their own (its timestamp cast does not skip spaces after a bare date).
-- Scores are measurements and read as doubles. (Named to_measure, not to_number: sqlglot reads
-- to_number as the built-in that needs a format, and the Spark loader inlines these macros.)
create or replace temp macro to_measure(raw_value) as try_cast(raw_value as double);

-- Money and quantities are exact decimals, so a day's sums do not depend on the order of its lines
-- and a purchase fully returned nets to exactly 0. Four places keep a hundredth of a cent (unit
-- prices of bulk goods and fuel carry three or four); fourteen digits before the point hold any
-- line a till prints, in any currency.
create or replace temp macro to_decimal(raw_value) as try_cast(raw_value as decimal(18, 4));

-- quantity x unit_price to four places, exact: the product is formed in 64-bit decimals where it
-- fits (below a billion), beyond that from doubles, which still carry the four places of such a
-- sum's 16 significant digits. The discount lowers a purchase and a return alike. Null (so the
-- row is quarantined) beyond 13 digits before the point; the 17-digit operands keep the
-- subtraction in 64 bits.
create or replace temp macro line_total(quantity, unit_price, discount) as
    try_cast(
        case
            when abs(quantity::double * unit_price::double) < 1e9 then round(quantity * unit_price, 4)
            else try_cast(quantity::double * unit_price::double as decimal(18, 4))
        end
        as decimal(17, 4)
    ) - try_cast(sign(quantity) * abs(coalesce(discount, 0)) as decimal(17, 4));

create or replace temp macro to_flag(raw_value) as
    case
        when lower(trim(raw_value)) in ('1', 'true', 't', 'yes', 'y') then true
        when lower(trim(raw_value)) in ('0', 'false', 'f', 'no', 'n') then false
    end;

-- A timestamp in the configured zone, which the loader sets as the session's TimeZone: a value with
-- an offset or Z is converted to it, a naive one is taken to be in it. An unpadded
-- 'YYYY-MM-DD HH:MM:SS' has no room for an offset and takes the plain cast, the fast path for
-- most files; anything else (bare dates, padding, fractions, offsets) is trimmed and read as an
-- instant. Named to_local_timestamp, not after DuckDB's built-in to_timestamp (epoch seconds), and
-- the 17th character taken with substring: Spark indexes text with [] as an array, from 0.
create or replace temp macro to_local_timestamp(raw_value, timestamp_format) as
    coalesce(
        case
            when length(raw_value) = 19 and substring(raw_value, 17, 1) = ':' then try_cast(raw_value as timestamp)
            else try_cast(try_cast(nullif(trim(raw_value), '') as timestamptz) as timestamp)
        end,
        try_strptime(trim(raw_value), timestamp_format)::timestamp
    );

-- Why a row cannot be loaded: one macro per rule the sources share, each null when the row passes.
-- The duplicate rules read two tables the loader fills for each file; these stand in until then.
create temp table if not exists exact_duplicates (source_row bigint);
create temp table if not exists existing_keys (key varchar);

create or replace temp macro missing(value, column_name) as
    case when value is null then 'missing ' || column_name end;

-- Why a value that is present could not be read, or null when it reads fine (or is absent).
create or replace temp macro unreadable(raw_value, parsed_value, column_name, kind) as
    case when parsed_value is null and not is_blank(raw_value) then kind || ' ' || column_name end;

create or replace temp macro number_problem(raw_value, column_name) as
    case
        when try_cast(raw_value as double) is null then 'non-numeric ' || column_name
        when not abs(try_cast(raw_value as double)) < 'Infinity'::double then 'non-finite ' || column_name
        else column_name || ' out of range'
    end;

-- A decimal that read is finite and in range; a double (a score) can be infinite or NaN.
create or replace temp macro unreadable_decimal(raw_value, parsed_value, column_name) as
    case when parsed_value is null and not is_blank(raw_value) then number_problem(raw_value, column_name) end;

-- Finite as `abs(v) < infinity`, false for NaN too (both engines order NaN above every number):
-- Spark has no isfinite.
create or replace temp macro unreadable_number(raw_value, parsed_value, column_name) as
    case when not abs(parsed_value) < 'Infinity'::double or (parsed_value is null and not is_blank(raw_value))
        then number_problem(raw_value, column_name) end;

create or replace temp macro unreadable_timestamp(raw_value, parsed_value, column_name, run_started_at) as
    coalesce(
        unreadable(raw_value, parsed_value, column_name, 'unparseable'),
        case when parsed_value > run_started_at then column_name || ' in the future' end
    );

create or replace temp macro required_timestamp(raw_value, parsed_value, column_name, run_started_at) as
    case
        when parsed_value is null and is_blank(raw_value) then 'missing ' || column_name
        else unreadable_timestamp(raw_value, parsed_value, column_name, run_started_at)
    end;

-- A row that repeats an earlier line of its file (see exact_duplicates.sql), unless the source keeps them.
create or replace temp macro exact_duplicate(row_number, keep_exact_duplicates) as
    case when not keep_exact_duplicates and row_number in (select source_row from exact_duplicates)
        then 'exact duplicate of an earlier row' end;

-- A second row for a key: in the same file, or for a key another file already loaded.
create or replace temp macro duplicate_key(key_value, key_name, row_number) as
    case
        when row_number() over (partition by key_value order by row_number) > 1 then 'duplicate ' || key_name
        when key_value in (select key from existing_keys) then 'duplicate ' || key_name || ' (loaded from another file)'
    end;

-- The sources with a key (products, customers, survey): a repeated line, else a repeated key.
create or replace temp macro repeated_row(row_number, keep_exact_duplicates, key_value, key_name) as
    coalesce(exact_duplicate(row_number, keep_exact_duplicates), duplicate_key(key_value, key_name, row_number));
