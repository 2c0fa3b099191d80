{#- An amount in cents as euros with two decimals. -#}
{% macro cents_to_euros(column) -%}
    cast({{ column }} / 100.0 as decimal(10, 2))
{%- endmacro %}
