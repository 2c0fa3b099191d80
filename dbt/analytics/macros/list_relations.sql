{#-
  dbt-spark lists a schema's relations with SHOW TABLE EXTENDED, which Spark refuses for Iceberg (v2)
  tables (SPARK-33393); its fallback then runs DESCRIBE EXTENDED on every table of the schema, in every
  dbt invocation: with one task per model, each task paid seconds for a 100-table schema.

  In an Iceberg catalog (Kyuubi's and the local engine's default catalog) every table is an Iceberg table,
  so two listings give dbt all it reads (view or table, provider): SHOW TABLES and SHOW VIEWS, two catalog
  calls whatever the schema's size. Rows are dbt-spark's SHOW TABLE EXTENDED shape
  (namespace, name, isTemporary, information). Keep this macro only for schemas in an Iceberg catalog.
-#}
{% macro spark__list_relations_without_caching(relation) %}
  {% call statement('list_tables', fetch_result=True) -%}
    show tables in {{ relation.schema }}
  {%- endcall %}
  {% call statement('list_views', fetch_result=True) -%}
    show views in {{ relation.schema }}
  {%- endcall %}
  {% set rows = [] %}
  {% for row in load_result('list_tables').table %}
    {% do rows.append([row[0], row[1], row[2], 'Type: MANAGED\nProvider: iceberg\n']) %}
  {% endfor %}
  {% for row in load_result('list_views').table %}
    {% do rows.append([row[0], row[1], row[2], 'Type: VIEW\n']) %}
  {% endfor %}
  {% do return(rows) %}
{% endmacro %}
