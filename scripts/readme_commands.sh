#!/usr/bin/env bash
# Run the README's shell commands one by one, as a new user would after `make demo`, and print
# each one's exit code and wall time. Commands that need files this machine cannot download
# (the real ZFNet-512/VGG16 weights) run on the stand-in files of the same layout
# (zfnet/io/synthetic.py); `serve` runs for 20 s; `make test`, `make demo` and
# `reproduce all` (hours) are skipped: they are timed on their own.
#   scripts/readme_commands.sh            (from the repository root, after make demo)
set -u
cd "$(dirname "$0")/.."
. .venv/bin/activate
export PYTHONWARNINGS=ignore
log=${1:-/tmp/zfnet-readme-commands.txt}
: > "$log"
run() {
  local t0=$SECONDS
  ( eval "$1" ) > /tmp/zfnet-cmd.out 2>&1
  local rc=$?
  printf '%4ds  exit %d  %s\n' $((SECONDS - t0)) "$rc" "$1" | tee -a "$log"
  [ "$rc" = 0 ] || tail -3 /tmp/zfnet-cmd.out | sed 's/^/      /' | tee -a "$log"
}
python -c "from zfnet.io.synthetic import write_zfnet512_onnx, write_keras_vgg16; \
write_zfnet512_onnx('zfnet512-9.onnx'); write_keras_vgg16('vgg16_weights_tf_dim_ordering_tf_kernels.h5')"
run "zfnet demo --epochs 1 --limit 3000 --out runs/demo-short"
run "zfnet --version"
run "python -m zfnet data fetch fashion-mnist"
run "python -m zfnet data fetch photos"
run "python -m zfnet train --config small --epochs 5 --out runs/fm"
run "python -m zfnet train --config small --epochs 5 --out runs/fm --resume"
run "python -m zfnet train --limit 2000 --epochs 1 --out runs/quick"
run "python -m zfnet evaluate runs/fm/final"
run "python -m zfnet filters runs/fm/final --out conv1.png"
run "python -m zfnet bench"
run "python -m zfnet bench first-picture --checkpoint runs/demo/final"
run "python -m zfnet bench deconv --config vgg16-notop --mode map --rank l2 --top 3 --no-loop"
run "python -m zfnet visualize runs/demo/final runs/demo/images/test0_Ankle_boot.png --layer conv1 --layer conv3 --layer conv5 --layer fc6 --top 9 --out runs/vis"
run "python -m zfnet visualize runs/demo/final runs/demo/images/test1_*.png --layer conv5 --method guided --mode map --rank l2 --out runs/vis-guided"
run "python -m zfnet topk runs/demo/final --layer conv5 --maps 8 --top 9"
run "timeout 20 python -m zfnet serve runs/demo/final; test \$? = 124"
run "python -m zfnet import-onnx zfnet512-9.onnx --out runs/zfnet512 --force"
run "python -m zfnet import-keras vgg16_weights_tf_dim_ordering_tf_kernels.h5 --out runs/vgg16 --force"
run "python -m zfnet evaluate runs/zfnet512 --dataset imagenet-photos"
run "python -m zfnet predict runs/vgg16 data/photos/skimage/*.png --top 3"
run "python -m zfnet visualize runs/vgg16 data/photos/skimage/chelsea.png --layer block5_conv3 --mode map --rank l2 --top 3"
run "timeout 60 python -m zfnet serve runs/zfnet512; test \$? = 124"
run "python -m zfnet reproduce --list"
run "python -m zfnet reproduce fig7_occlusion --out /tmp/zfnet-fig7"
run "python -m zfnet reproduce fig5_invariance --quick --out /tmp/q"
rm -f zfnet512-9.onnx vgg16_weights_tf_dim_ordering_tf_kernels.h5 conv1.png
echo "log: $log"
