#!/bin/bash
# GPU checks for Bagpipe on a machine that has an NVIDIA GPU and PyTorch in Python
# but no JDK and no internet: a training step on the GPU, a gradient equal to the
# CPU's (within --tolerance), parameters equal after the same update, and bags/s
# on the GPU over the CPU's (`bagpipe bench gpu`).
#
# What it needs
#   Bagpipe's pom pins DJL 0.35.1 (ai.djl:api, ai.djl.pytorch:pytorch-engine) with
#   the CPU natives pytorch-native-cpu 2.7.1 and pytorch-jni 2.7.1-0.35.1. DJL
#   publishes no CUDA libtorch that is both recent and small enough to carry, so
#   the GPU run uses the libtorch inside the GPU machine's own Python torch (any
#   2.x wheel with CUDA; checked for: torch 2.11 with CUDA 13) and builds DJL
#   0.35.1's JNI library, libdjl_torch.so, against it there. DJL loads both through
#   PYTORCH_LIBRARY_PATH (torch/lib), PYTORCH_VERSION and PYTORCH_FLAVOR, offline.
#
#   Here (the machine with the JDK and the repository):
#     DJL's sources at tag v0.35.1 (git clone --branch v0.35.1 https://github.com/deepjavalibrary/djl)
#     JDK 25 (javac, jdeps, jlink), and Bagpipe built (./mvnw -DskipTests package)
#   There (the GPU machine):
#     nvidia driver, python3 with torch built for CUDA, cmake >= 3.18, g++ (C++17)
#
# Steps
#   1. here:  deploy/gpu/gpu-check.sh pack --djl-src DJL_CHECKOUT --out DIR
#      writes DIR/jre.tgz (a jlink runtime with the JDK headers, ~40 MB),
#      DIR/app.tgz (bagpipe.jar and its libraries without the CPU libtorch,
#      ~40 MB), DIR/djl-jni-src.tgz (DJL's JNI sources with the generated JNI
#      header, <1 MB) and this script. Carry DIR to the GPU machine (in two parts
#      if one transfer is limited to 64 MiB).
#   2. there: deploy/gpu/gpu-check.sh build --in DIR
#      unpacks, checks the tools, builds libdjl_torch.so against torch's libtorch
#      and installs it where DJL looks (DIR/djl-cache/pytorch/VERSION-FLAVOR-linux-x86_64/).
#   3. there: deploy/gpu/gpu-check.sh check --in DIR [--device gpu0] [bench gpu options]
#      runs `bagpipe bench gpu`; exit status 0 when the step, the gradient and the
#      update agree with the CPU's. The report is written under DIR/bench/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
djl_version=0.35.1
python=${PYTHON:-python3}

die() { echo "gpu-check.sh: $*" >&2; exit 1; }
say() { echo "gpu-check.sh: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found; $2"; }

usage() { sed -n '2,37p' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

pack() {
  local djl="" out=""
  while [ $# -gt 0 ]; do
    case $1 in
      --djl-src) djl=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      *) die "pack: unknown argument '$1'" ;;
    esac
  done
  [ -n "$djl" ] && [ -n "$out" ] || die "pack needs --djl-src DJL_CHECKOUT and --out DIR"
  local native="$djl/engines/pytorch/pytorch-native"
  [ -f "$native/CMakeLists.txt" ] && [ -f "$djl/api/src/main/native/djl/utils.h" ] ||
    die "$djl is not a DJL checkout (no engines/pytorch/pytorch-native/CMakeLists.txt)"
  if [ -f "$djl/gradle.properties" ] && ! grep -q "^djl_version=$djl_version" "$djl/gradle.properties"; then
    die "$djl is not DJL $djl_version (gradle.properties says $(grep '^djl_version=' "$djl/gradle.properties")); check out tag v$djl_version"
  fi
  local jdk=${JAVA_HOME:-}
  [ -n "$jdk" ] && [ -x "$jdk/bin/jlink" ] || die "set JAVA_HOME to a JDK 25 (it needs javac, jdeps and jlink)"
  [ -f "$repo/target/bagpipe.jar" ] && [ -d "$repo/target/lib" ] ||
    die "build Bagpipe first: (cd $repo && ./mvnw -B -DskipTests package)"
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN

  say "JNI header and sources of DJL $djl_version"
  local src="$work/djl-jni-src"
  mkdir -p "$src/engines/pytorch" "$src/api/src/main"
  cp -r "$native" "$src/engines/pytorch/"
  rm -rf "$src/engines/pytorch/pytorch-native/build"
  cp -r "$djl/api/src/main/native" "$src/api/src/main/"
  mkdir -p "$src/engines/pytorch/pytorch-native/build/include" "$work/classes"
  "$jdk/bin/javac" -h "$src/engines/pytorch/pytorch-native/build/include" -d "$work/classes" \
    -sourcepath "$djl/engines/pytorch/pytorch-engine/src/main/java:$djl/api/src/main/java" \
    "$djl/engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java"
  tar -C "$work" -czf "$out/djl-jni-src.tgz" djl-jni-src

  say "application jars (without the CPU libtorch)"
  mkdir -p "$work/app/lib"
  cp "$repo/target/bagpipe.jar" "$work/app/"
  find "$repo/target/lib" -name '*.jar' ! -name 'pytorch-native-cpu*' -exec cp {} "$work/app/lib/" \;
  tar -C "$work" -czf "$out/app.tgz" app

  say "Java runtime (jlink) with the JNI headers"
  local modules
  modules=$("$jdk/bin/jdeps" --ignore-missing-deps --print-module-deps --multi-release 25 \
    --class-path "$work/app/lib/*" "$work/app/bagpipe.jar" 2>/dev/null) ||
    die "jdeps could not list the modules Bagpipe needs"
  # jdk.unsupported: Kryo and Pekko use sun.misc.Unsafe; jdk.crypto.ec: TLS; jdk.management: CPU time.
  "$jdk/bin/jlink" --add-modules "$modules,jdk.unsupported,jdk.management,jdk.crypto.ec,jdk.zipfs" \
    --strip-debug --no-header-files --no-man-pages --compress=zip-6 --output "$work/jre"
  cp -r "$jdk/include" "$work/jre/include"
  tar -C "$work" -czf "$out/jre.tgz" jre

  cp "${BASH_SOURCE[0]}" "$out/gpu-check.sh"
  say "packed into $out:"
  ls -l "$out" >&2
}

unpack() {
  local in=$1
  for part in jre app djl-jni-src; do
    [ -d "$in/$part" ] || { [ -f "$in/$part.tgz" ] || die "$in/$part.tgz missing; run pack and carry all of its files"; tar -C "$in" -xzf "$in/$part.tgz"; }
  done
}

# Prints "TORCH_LIB VERSION FLAVOR CMAKE_PREFIX" for the Python torch, or fails.
torch_facts() {
  "$python" - <<'PY'
import os, sys
try:
    import torch
except ImportError:
    sys.exit("python has no torch; install a CUDA build of PyTorch")
if not torch.cuda.is_available():
    sys.exit("torch %s sees no CUDA device (torch.version.cuda=%s)" % (torch.__version__, torch.version.cuda))
lib = os.path.join(os.path.dirname(torch.__file__), "lib")
version = torch.__version__.split("+")[0]
flavor = "cu" + torch.version.cuda.replace(".", "")
print(lib, version, flavor, torch.utils.cmake_prefix_path)
PY
}

build() {
  local in=""
  while [ $# -gt 0 ]; do
    case $1 in
      --in) in=$2; shift 2 ;;
      *) die "build: unknown argument '$1'" ;;
    esac
  done
  [ -n "$in" ] || die "build needs --in DIR (the folder pack wrote)"
  in=$(cd "$in" && pwd)
  need nvidia-smi "this machine has no NVIDIA driver"
  need cmake "install cmake >= 3.18"
  need g++ "install a C++17 compiler (g++)"
  need "$python" "install python3 with a CUDA build of torch"
  unpack "$in"
  local facts torch_lib version flavor prefix
  facts=$(torch_facts) || die "the Python torch cannot run on the GPU (above)"
  read -r torch_lib version flavor prefix <<<"$facts"
  say "torch $version ($flavor) in $torch_lib"
  local native="$in/djl-jni-src/engines/pytorch/pytorch-native"
  local build_dir="$native/build"
  mkdir -p "$build_dir"
  # DJL's own build.sh does the same with a downloaded libtorch; here torch's wheel provides it.
  (cd "$build_dir" &&
    JAVA_HOME="$in/jre" cmake -DCMAKE_PREFIX_PATH="$prefix" -DUSE_CUDA=1 -DCMAKE_BUILD_TYPE=Release \
      -DJAVA_HOME="$in/jre" .. >cmake.log 2>&1 ||
    { tail -n 30 cmake.log >&2; die "cmake failed; full log: $build_dir/cmake.log"; })
  (cd "$build_dir" && cmake --build . --config Release -- -j "$(nproc)" >make.log 2>&1 ||
    { tail -n 30 make.log >&2; die "building libdjl_torch.so failed; full log: $build_dir/make.log"; })
  local dest="$in/djl-cache/pytorch/$version-$flavor-linux-x86_64"
  mkdir -p "$dest"
  cp "$build_dir/libdjl_torch.so" "$dest/$djl_version-libdjl_torch.so"
  printf 'TORCH_LIB=%s\nPYTORCH_VERSION=%s\nPYTORCH_FLAVOR=%s\n' "$torch_lib" "$version" "$flavor" >"$in/torch.env"
  say "built $dest/$djl_version-libdjl_torch.so"
}

check() {
  local in="" args=()
  while [ $# -gt 0 ]; do
    case $1 in
      --in) in=$2; shift 2 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  [ -n "$in" ] || die "check needs --in DIR (the folder pack wrote and build used)"
  in=$(cd "$in" && pwd)
  [ -f "$in/torch.env" ] || die "run '$0 build --in $in' first"
  local TORCH_LIB PYTORCH_VERSION PYTORCH_FLAVOR
  # shellcheck disable=SC1091
  . "$in/torch.env"
  case " ${args[*]} " in *" --device "*) ;; *) args+=(--device gpu0) ;; esac
  PYTORCH_LIBRARY_PATH=$TORCH_LIB PYTORCH_VERSION=$PYTORCH_VERSION PYTORCH_FLAVOR=$PYTORCH_FLAVOR \
  DJL_CACHE_DIR="$in/djl-cache" LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$in/jre/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
      -Dai.djl.offline=true -cp "$in/app/bagpipe.jar:$in/app/lib/*" io.bagpipe.cli.Main \
      bench gpu --set "bagpipe.bench.out=$in/bench" "${args[@]}"
}

[ $# -gt 0 ] || usage 2
cmd=$1; shift
case $cmd in
  pack) pack "$@" ;;
  build) build "$@" ;;
  check) check "$@" ;;
  -h|--help|help) usage 0 ;;
  *) echo "gpu-check.sh: unknown step '$cmd'" >&2; usage 2 ;;
esac
