/* kafka_mock: the testbed's default Kafka broker, librdkafka's embedded mock
 * cluster. It speaks the real Kafka protocol on loopback (127.0.0.1, ports
 * chosen by the kernel), runs in librdkafka threads inside this process, and
 * lives as long as the struct kafka_mock. Clients in this process and in
 * other processes connect to it over TCP like to any broker.
 *
 * Threads: create, create_topic and destroy from one thread; the bootstrap
 * string may be read from any thread while the mock lives. Do not fork()
 * while one exists and use it in the child (librdkafka threads do not
 * survive fork); children connect to it over TCP like any client. */
#ifndef SKEWSCOPE_KAFKA_MOCK_H
#define SKEWSCOPE_KAFKA_MOCK_H

#include <stddef.h>

struct kafka_mock;

/* Start a mock cluster of nbrokers (>= 1) brokers on a dedicated librdkafka
 * handle. Returns NULL and a message in err when librdkafka cannot start it. */
struct kafka_mock *kafka_mock_create(int nbrokers, char *err, size_t errlen);

/* The bootstrap servers, "127.0.0.1:PORT[,...]"; owned by m. */
const char *kafka_mock_bootstraps(const struct kafka_mock *m);

/* Create topic with partitions partitions (1 keeps one total order per
 * topic) unless it exists already (then 0, whatever its partition count).
 * Topics that clients create implicitly get the mock's default count.
 * Returns 0, or -EINVAL / -EIO with a message in err. */
int kafka_mock_create_topic(struct kafka_mock *m, const char *topic,
                            int partitions, char *err, size_t errlen);

/* Stop the brokers (clients still connected see disconnects) and free m.
 * NULL is a no-op. */
void kafka_mock_destroy(struct kafka_mock *m);

#endif
