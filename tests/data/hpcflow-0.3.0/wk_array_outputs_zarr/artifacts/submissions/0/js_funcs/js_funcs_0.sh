wkflow_app () {
(
    /work/wt-v03/.venv-hpcflow03/bin/python "/work/wt-v03/.venv-hpcflow03/lib/python3.11/site-packages/hpcflow/cli.py"\
        --with-config log_file_path "$HPCFLOW_LOG_PATH"\
        --config-dir "/tmp/wfstore-fixtures-d_7nxpe9/config"\
        --config-key "default"\
        "$@"
)
}
