#!/bin/bash
WK_PATH=`pwd`
WK_PATH_ARG="$WK_PATH"
SUB_IDX=0
JS_IDX=0
APP_CAPS=HPCFLOW

SUB_DIR="$WK_PATH/artifacts/submissions/${SUB_IDX}"
JS_FUNCS_PATH="$SUB_DIR/js_funcs/js_funcs_0.sh"
. "$JS_FUNCS_PATH"        

EAR_ID_FILE="$WK_PATH/artifacts/submissions/${SUB_IDX}/js_run_ids/js_0_EAR_IDs.txt"
SUB_TMP_DIR="$SUB_DIR/tmp"
SUB_LOG_DIR="$SUB_DIR/app_logs"
SUB_STD_DIR="$SUB_DIR/app_std"
SUB_SCRIPTS_DIR="$SUB_DIR/scripts"

export HPCFLOW_WK_PATH=$WK_PATH
export HPCFLOW_WK_PATH_ARG=$WK_PATH_ARG
export HPCFLOW_SUB_IDX=0
export HPCFLOW_SUB_SCRIPTS_DIR=$SUB_SCRIPTS_DIR
export HPCFLOW_SUB_TMP_DIR=$SUB_TMP_DIR
export HPCFLOW_SUB_LOG_DIR=$SUB_LOG_DIR
export HPCFLOW_SUB_STD_DIR=$SUB_STD_DIR
export HPCFLOW_LOG_PATH="$SUB_LOG_DIR/js_${JS_IDX}.log"
export HPCFLOW_JS_FUNCS_PATH=$JS_FUNCS_PATH
export HPCFLOW_JS_IDX=0
export HPCFLOW_RUN_ID_FILE=$EAR_ID_FILE


block_idx=0
export HPCFLOW_BLOCK_IDX=0
JS_elem_idx=0
block_elem_idx=$(( $JS_elem_idx - 0 ))
elem_EAR_IDs=`sed "$((${JS_elem_idx} + 1))q;d" "$EAR_ID_FILE"`
export HPCFLOW_JS_ELEM_IDX=$JS_elem_idx
export HPCFLOW_BLOCK_ELEM_IDX=$block_elem_idx

block_act_idx=0        
EAR_ID="$(cut -d':' -f $(($block_act_idx + 1)) <<< $elem_EAR_IDs)"
if [ "$EAR_ID" = "-1" ]; then
    continue
fi

export HPCFLOW_RUN_ID=$EAR_ID
export HPCFLOW_RUN_LOG_PATH=" "
export HPCFLOW_LOG_PATH="$HPCFLOW_RUN_LOG_PATH"
export HPCFLOW_BLOCK_ACT_IDX=$block_act_idx

cd "$SUB_TMP_DIR"

if [[ "$(uname)" == "Darwin" ]]; then
    export HPCFLOW_APP_LAUNCH_START="$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
else
    export HPCFLOW_APP_LAUNCH_START="$(date -u '+%Y-%m-%dT%H:%M:%S.%6NZ')"
fi
wkflow_app internal workflow "$WK_PATH_ARG" execute-run $SUB_IDX $JS_IDX $block_idx $block_act_idx $EAR_ID




cd $WK_PATH
