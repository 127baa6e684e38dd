"""Analysis of stored runs: tables and plots that read only run directories."""
