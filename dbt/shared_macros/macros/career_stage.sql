{#- The career stage of an age: 'Young Professional' below 30, else 'Mid-Career'. -#}
{% macro career_stage(age_column) -%}
    case when {{ age_column }} < 30 then 'Young Professional' else 'Mid-Career' end
{%- endmacro %}
