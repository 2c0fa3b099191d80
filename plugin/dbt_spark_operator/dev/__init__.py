"""Development tooling, apart from what an Airflow worker imports: the local engine (Spark's thrift
server with Iceberg, optional LDAP logins and TLS), ``make demo``, ``make ui``, the WarmLocalExecutor
they run Airflow with, and the Airflow stack (PostgreSQL and Airflow's services) the integration suite
and the benchmarks start. Nothing outside this subpackage imports it but the command line's dev commands.
"""
