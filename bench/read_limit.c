/*
 * read_limit: how many 224x224 level-0 patches per second OpenSlide's C library
 * itself delivers from the benchmark slides, with no JVM, Python or model in the
 * way. It is the physical limit `bagpipe bench read` and `bench train` divide by.
 *
 *   read_limit DIR PATCHES THREADS MODE [SEED]
 *
 *   DIR      a benchmark data set: DIR/manifest.csv (header, then slide_id,label),
 *            DIR/svs/<slide_id>.tif and DIR/coords/<slide_id>.csv (header, then x,y)
 *   PATCHES  patches read in total, split evenly over the threads
 *   MODE     raw  every thread opens each slide once before the clock starts,
 *                 then reads random (slide, coordinate) patches: the read limit;
 *            conv raw, plus turning each premultiplied ARGB patch into planar
 *                 RGB floats in [0, 1] (what a PyTorch loader hands its model);
 *            bag  the reference pipeline's access pattern: per bag of 32 patches,
 *                 open a random slide, read 32 distinct random coordinates, convert
 *                 them as conv does, close the slide.
 *   SEED     picks the patch sequence (default 12345)
 *
 * Patch sequence (raw and conv): thread t draws from xorshift64* seeded with
 * SEED*7919 + t*104729 + 1, slide = draw % slides, then coordinate = draw % its
 * coordinates. Bagpipe's ReadBench replays exactly this sequence, so both sides
 * decode the same tiles.
 *
 * Prints one line, timed from the moment all threads are ready:
 *   RESULT read_limit mode=M threads=T slides=S patches=P secs=.. patches_per_s=..
 *          cpu_s=.. patches_per_cpu_s=.. [bags=.. open_close_ms_per_bag=..] checksum=..
 * cpu_s is the process's user+sys time over that window; patches per CPU-second
 * stays meaningful when other jobs take cores away.
 *
 * Build: gcc -O2 -pthread -o read_limit read_limit.c $(pkg-config --cflags --libs openslide)
 */
#include <openslide.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { SIDE = 224, BAG = 32, MAX_SLIDES = 1024, MAX_THREADS = 256 };

struct slide {
  char path[4096];
  int32_t *xy; /* x0, y0, x1, y1, ... */
  long count;
};

struct dataset {
  struct slide *slides;
  int count;
};

enum mode { RAW, CONV, BAGS };

struct job {
  const struct dataset *data;
  enum mode mode;
  int tid;
  long patches;
  uint64_t seed;
  pthread_barrier_t *ready;
  /* results */
  double checksum;
  double open_close_s;
  long bags;
};

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "read_limit: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static uint64_t draw(uint64_t *state) { /* xorshift64* */
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * UINT64_C(2685821657736338717);
}

static void read_coords(struct slide *s, const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) fail("cannot open coordinate file", file);
  char line[256];
  if (!fgets(line, sizeof line, f)) fail("empty coordinate file", file);
  long cap = 1024, lineno = 1;
  s->xy = malloc(sizeof(int32_t) * 2 * (size_t)cap);
  s->count = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (line[0] == '\n' || line[0] == '\r') continue;
    int x, y;
    if (sscanf(line, "%d,%d", &x, &y) != 2 || x < 0 || y < 0) {
      fprintf(stderr, "read_limit: %s line %ld: expected x,y with non-negative integers\n", file, lineno);
      exit(1);
    }
    if (s->count == cap) {
      cap *= 2;
      s->xy = realloc(s->xy, sizeof(int32_t) * 2 * (size_t)cap);
    }
    s->xy[2 * s->count] = x;
    s->xy[2 * s->count + 1] = y;
    s->count++;
  }
  fclose(f);
  if (s->count < BAG) fail("fewer than 32 coordinates in", file);
}

static void read_dataset(struct dataset *d, const char *dir) {
  char file[4200], line[1024];
  snprintf(file, sizeof file, "%s/manifest.csv", dir);
  FILE *f = fopen(file, "r");
  if (!f) fail("cannot open manifest", file);
  if (!fgets(line, sizeof line, f)) fail("empty manifest", file);
  d->slides = calloc(MAX_SLIDES, sizeof(struct slide));
  d->count = 0;
  while (fgets(line, sizeof line, f)) {
    char *comma = strchr(line, ',');
    if (!comma) continue;
    *comma = '\0';
    if (d->count == MAX_SLIDES) fail("more than 1024 slides in", file);
    struct slide *s = &d->slides[d->count++];
    snprintf(s->path, sizeof s->path, "%s/svs/%s.tif", dir, line);
    char coords[4200];
    snprintf(coords, sizeof coords, "%s/coords/%s.csv", dir, line);
    read_coords(s, coords);
  }
  fclose(f);
  if (d->count == 0) fail("no slides listed in", file);
}

static openslide_t *open_slide(const struct slide *s) {
  openslide_t *o = openslide_open(s->path);
  if (!o) fail("OpenSlide cannot open", s->path);
  if (openslide_get_error(o)) fail(s->path, openslide_get_error(o));
  return o;
}

/* Premultiplied ARGB to planar RGB floats in [0, 1]; a partly transparent pixel is
 * divided by its alpha first, as PIL's RGBA-to-RGB after openslide-python does. */
static double to_planar(const uint32_t *argb, float *rgb) {
  float *r = rgb, *g = rgb + SIDE * SIDE, *b = rgb + 2 * SIDE * SIDE;
  for (int i = 0; i < SIDE * SIDE; i++) {
    uint32_t p = argb[i], a = p >> 24;
    uint32_t c[3] = {(p >> 16) & 255u, (p >> 8) & 255u, p & 255u};
    for (int k = 0; k < 3 && a != 255; k++) c[k] = a == 0 ? 0 : c[k] * 255u / a;
    r[i] = (float)c[0] / 255.0f;
    g[i] = (float)c[1] / 255.0f;
    b[i] = (float)c[2] / 255.0f;
  }
  return rgb[(SIDE * SIDE * 3) / 2];
}

static void *run_job(void *arg) {
  struct job *j = arg;
  const struct dataset *d = j->data;
  uint32_t *argb = malloc(sizeof(uint32_t) * SIDE * SIDE);
  float *rgb = malloc(sizeof(float) * 3 * SIDE * SIDE);
  openslide_t **open = calloc((size_t)d->count, sizeof(openslide_t *));
  uint64_t state = j->seed * 7919u + (uint64_t)j->tid * 104729u + 1u;
  if (j->mode != BAGS)
    for (int s = 0; s < d->count; s++) open[s] = open_slide(&d->slides[s]);
  pthread_barrier_wait(j->ready);

  if (j->mode == BAGS) {
    long picked[BAG];
    for (long done = 0; done < j->patches; j->bags++) {
      const struct slide *s = &d->slides[draw(&state) % (uint64_t)d->count];
      long n = j->patches - done < BAG ? j->patches - done : BAG;
      double t0 = wall_s();
      openslide_t *o = open_slide(s);
      j->open_close_s += wall_s() - t0;
      for (long k = 0; k < n; k++) {
        int again;
        do { /* distinct coordinates within a bag */
          picked[k] = (long)(draw(&state) % (uint64_t)s->count);
          again = 0;
          for (long m = 0; m < k; m++) again |= picked[m] == picked[k];
        } while (again);
        openslide_read_region(o, argb, s->xy[2 * picked[k]], s->xy[2 * picked[k] + 1], 0, SIDE, SIDE);
        j->checksum += to_planar(argb, rgb);
      }
      if (openslide_get_error(o)) fail(s->path, openslide_get_error(o));
      t0 = wall_s();
      openslide_close(o);
      j->open_close_s += wall_s() - t0;
      done += n;
    }
  } else {
    for (long i = 0; i < j->patches; i++) {
      int si = (int)(draw(&state) % (uint64_t)d->count);
      const struct slide *s = &d->slides[si];
      long c = (long)(draw(&state) % (uint64_t)s->count);
      openslide_read_region(open[si], argb, s->xy[2 * c], s->xy[2 * c + 1], 0, SIDE, SIDE);
      j->checksum += j->mode == CONV ? to_planar(argb, rgb) : (double)(argb[(i * 131) % (SIDE * SIDE)] & 255u);
    }
    for (int s = 0; s < d->count; s++) {
      if (openslide_get_error(open[s])) fail(d->slides[s].path, openslide_get_error(open[s]));
      openslide_close(open[s]);
    }
  }
  free(open);
  free(rgb);
  free(argb);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 5 || argc > 6) {
    fprintf(stderr, "usage: %s DIR PATCHES THREADS raw|conv|bag [SEED]\n", argv[0]);
    return 2;
  }
  long patches = atol(argv[2]);
  int threads = atoi(argv[3]);
  const char *name = argv[4];
  enum mode mode = strcmp(name, "raw") == 0 ? RAW : strcmp(name, "conv") == 0 ? CONV : strcmp(name, "bag") == 0 ? BAGS : -1;
  if ((int)mode < 0) fail("MODE must be raw, conv or bag, not", name);
  if (patches < 1 || threads < 1 || threads > MAX_THREADS) fail("PATCHES must be >= 1 and THREADS in 1..256", NULL);
  uint64_t seed = argc == 6 ? strtoull(argv[5], NULL, 10) : 12345u;

  struct dataset d;
  read_dataset(&d, argv[1]);
  pthread_barrier_t ready;
  pthread_barrier_init(&ready, NULL, (unsigned)threads + 1);
  pthread_t tids[MAX_THREADS];
  struct job *jobs = calloc((size_t)threads, sizeof(struct job));
  for (int t = 0; t < threads; t++) {
    jobs[t] = (struct job){.data = &d, .mode = mode, .tid = t, .seed = seed, .ready = &ready,
                           .patches = patches / threads + (t < patches % threads ? 1 : 0)};
    if (pthread_create(&tids[t], NULL, run_job, &jobs[t])) fail("cannot start a thread", NULL);
  }
  pthread_barrier_wait(&ready);
  double w0 = wall_s(), c0 = cpu_s();
  double checksum = 0, open_close = 0;
  long bags = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tids[t], NULL);
    checksum += jobs[t].checksum;
    open_close += jobs[t].open_close_s;
    bags += jobs[t].bags;
  }
  double secs = wall_s() - w0, cpu = cpu_s() - c0;
  printf("RESULT read_limit mode=%s threads=%d slides=%d patches=%ld secs=%.3f patches_per_s=%.1f cpu_s=%.3f"
         " patches_per_cpu_s=%.1f",
         name, threads, d.count, patches, secs, (double)patches / secs, cpu, (double)patches / cpu);
  if (bags > 0) printf(" bags=%ld open_close_ms_per_bag=%.2f", bags, 1e3 * open_close / (double)bags);
  printf(" checksum=%.3f\n", checksum);
  return 0;
}
