/* stage_board: the run's shared board (stage_board.h): one small file in
 * the ipc directory, mapped shared. */
#include "testbed/stage_board.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct stage_board *stage_board_map(const char *dir, bool create, char *err,
                                    size_t errlen)
{
    char path[512];
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);

    if ((size_t)snprintf(path, sizeof path, "%s/board", dir) >= sizeof path) {
        snprintf(err, errlen, "ipc directory name too long");
        return NULL;
    }
    int fd = open(path, flags, 0600);
    if (fd < 0 ||
        (create && ftruncate(fd, (off_t)sizeof(struct stage_board)) < 0)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *p = mmap(NULL, sizeof(struct stage_board), PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap %s: %s", path, strerror(errno));
        return NULL;
    }
    return p; /* a new file reads as zeros: every field starts at 0 */
}

void stage_board_unmap(struct stage_board *b)
{
    if (b)
        munmap(b, sizeof *b);
}

int stage_board_slot_of_channel(const char *channel)
{
    static const char *const fixed[] = {"response", "tokenize", "prefill",
                                        "detokenize"};
    char *end;

    for (int i = 0; i < 4; i++)
        if (strcmp(channel, fixed[i]) == 0)
            return i;
    if (strncmp(channel, "prefill.", 8) == 0 && channel[8] >= '0' &&
        channel[8] <= '9') {
        unsigned long k = strtoul(channel + 8, &end, 10);
        if (*end || k >= PIPELINE_MAX_DP)
            return -1;
        return k == 0 ? 2 : 3 + PIPELINE_MAX_TP + (int)k;
    }
    if (strncmp(channel, "decode.", 7) != 0 || channel[7] < '0' ||
        channel[7] > '9')
        return -1;
    unsigned long r = strtoul(channel + 7, &end, 10);
    return *end == '\0' && r < PIPELINE_MAX_TP ? 4 + (int)r : -1;
}
