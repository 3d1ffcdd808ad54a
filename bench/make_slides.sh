#!/bin/bash
# Writes the benchmark data set with vips alone: N pyramidal JPEG TIFF slides
# (tiles 256x256, quality 90), a level-0 coordinate file per slide and a manifest.
#
#   bench/make_slides.sh [--out DIR] [--n N] [--size PX] [--seed S] [--force]
#
# Layout (what read_limit.c, mil_pipeline.py and `bagpipe bench` read):
#   DIR/manifest.csv        slide_id,label   (first half label 0, second half 1)
#   DIR/svs/<id>.tif        the slides
#   DIR/coords/<id>.csv     x,y   every 224 px from 37 (off the tile grid), whole slide
#
# Pixels: four vips noise fields (stain hue, nuclei-sized blobs, tissue density,
# gaussian grain) mixed into RGB by one 3x4 matrix, so tiles cost about as much to
# decode as stained tissue does, and the same seed writes the same pixels.
# Needs: libvips-tools (vips) and openslide-tools (openslide-show-properties).
set -euo pipefail

out=/tmp/peerdata n=8 size=12288 seed=1234 force=0
patch=224 stride=224 offset=37
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "make_slides.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for tool in vips openslide-show-properties; do
  command -v "$tool" >/dev/null || {
    echo "make_slides.sh: $tool not found; install: apt-get install -y libvips-tools openslide-tools" >&2; exit 1; }
done
case $n$size$seed in *[!0-9]*) echo "make_slides.sh: --n, --size and --seed must be non-negative integers" >&2; exit 2 ;; esac
[ "$n" -ge 2 ] && [ "$size" -ge $((offset + patch)) ] ||
  { echo "make_slides.sh: need --n >= 2 and --size >= $((offset + patch))" >&2; exit 2; }

mkdir -p "$out/svs" "$out/coords"
tmp=$(mktemp -d "$out/.make.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Rows R, G, B; columns hue, nuclei, density, grain (all uchar around 128).
printf '4 3\n0.32 -0.30 0.55 0.075\n0.27 -0.25 0.75 0.075\n0.10 -0.15 0.35 0.075\n' >"$tmp/mix.mat"

manifest="slide_id,label"
for ((i = 0; i < n; i++)); do
  id=$(printf 'slide_%03d' "$i")
  label=$((i < n / 2 ? 0 : 1))
  manifest+=$'\n'"$id,$label"
  tif="$out/svs/$id.tif"
  if [ -f "$tif" ] && [ "$force" = 0 ]; then
    echo "$id exists"
  else
    t0=$(date +%s)
    s=$((seed * 16 + i * 4))
    vips perlin "$tmp/h.v" "$size" "$size" --cell-size 640 --uchar --seed "$s"
    vips perlin "$tmp/n.v" "$size" "$size" --cell-size 18 --uchar --seed $((s + 1))
    vips perlin "$tmp/t.v" "$size" "$size" --cell-size 3072 --uchar --seed $((s + 2))
    vips gaussnoise "$tmp/g0.v" "$size" "$size" --sigma 40 --mean 128 --seed $((s + 3))
    vips cast "$tmp/g0.v" "$tmp/g.v" uchar
    rm "$tmp/g0.v"
    vips bandjoin "$tmp/h.v $tmp/n.v $tmp/t.v $tmp/g.v" "$tmp/x.v"
    rm "$tmp/h.v" "$tmp/n.v" "$tmp/t.v" "$tmp/g.v"
    vips recomb "$tmp/x.v" "$tmp/m.v" "$tmp/mix.mat"
    rm "$tmp/x.v"
    vips linear "$tmp/m.v" "$tmp/rgb.v" "1 1 1" "107 17 132" --uchar
    rm "$tmp/m.v"
    vips tiffsave "$tmp/rgb.v" "$tmp/$id.tif" --tile --tile-width 256 --tile-height 256 \
      --pyramid --compression jpeg --Q 90
    rm "$tmp/rgb.v"
    mv "$tmp/$id.tif" "$tif"
    echo "$id written in $(( $(date +%s) - t0 )) s, $(( $(stat -c %s "$tif") / 1000000 )) MB"
  fi
  awk -v o="$offset" -v s="$stride" -v last=$((size - patch)) 'BEGIN {
    print "x,y"
    for (y = o; y <= last; y += s) for (x = o; x <= last; x += s) print x "," y
  }' >"$out/coords/$id.csv"
  props=$(openslide-show-properties "$tif") ||
    { echo "make_slides.sh: OpenSlide cannot open $tif" >&2; exit 1; }
  grep -q "^openslide.vendor: 'generic-tiff'" <<<"$props" ||
    { echo "make_slides.sh: OpenSlide does not read $tif as a generic-tiff" >&2; exit 1; }
done
printf '%s\n' "$manifest" >"$tmp/manifest.csv"
mv "$tmp/manifest.csv" "$out/manifest.csv"
echo "data set ready: $out ($n slides of ${size}x${size})"
