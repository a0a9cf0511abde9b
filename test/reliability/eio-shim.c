/*
 * LD_PRELOAD shim for the injected-I/O-error test (faults-io.test.ts): while the file named by
 * DLOG_EIO_TRIGGER exists, fsync and fdatasync on files under DLOG_EIO_DIR fail with EIO, the
 * way a failing disk answers. Everything else passes through untouched.
 *
 * Only the syncs: LevelDB 1.20 (classic-level) writes through stdio, whose write() calls stay
 * inside glibc where no preload reaches them; every durable LevelDB write (WAL, MANIFEST,
 * CURRENT, tables) ends in one of these two calls, so failing them fails the write.
 *
 * Built by the test: gcc -shared -fPIC -O2 -o eio-shim.so eio-shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static sync_fn real_fsync;
static sync_fn real_fdatasync;
static const char *trigger;
static const char *dir;
static size_t dir_len;

__attribute__((constructor)) static void init(void) {
  real_fsync = (sync_fn)dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
  trigger = getenv("DLOG_EIO_TRIGGER");
  dir = getenv("DLOG_EIO_DIR");
  dir_len = dir ? strlen(dir) : 0;
}

/* True while the trigger file exists and fd is a file under the fault dir. */
static int faulty(int fd) {
  if (!trigger || !dir || access(trigger, F_OK) != 0) return 0;
  char link[64];
  char path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strncmp(path, dir, dir_len) == 0 && (path[dir_len] == '/' || path[dir_len] == '\0');
}

int fsync(int fd) {
  if (faulty(fd)) {
    errno = EIO;
    return -1;
  }
  return real_fsync(fd);
}

int fdatasync(int fd) {
  if (faulty(fd)) {
    errno = EIO;
    return -1;
  }
  return real_fdatasync(fd);
}
