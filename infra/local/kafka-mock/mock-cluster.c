/*
 * mock-cluster: a Kafka-protocol test broker for tests and the local pipeline.
 *
 * Why this exists: there is no Kafka server package on the development
 * machines, but librdkafka ships a mock cluster (a Kafka protocol
 * implementation inside the library, see rdkafka_mock.h). This program starts
 * one and exposes its control API over stdin so TypeScript
 * (infra/local/kafka-mock/kafka-mock.ts) can drive it.
 *
 * The mock cluster does not support the CreateTopics admin API, so kafkajs
 * cannot create topics on it; topics are created here instead, from
 * --topic flags or the `topic` command.
 *
 * Usage: mock-cluster [--brokers N] [--topic name:partitions]...
 * Prints one line "BOOTSTRAP host:port,..." then answers each stdin line with
 * "OK" or "ERR <message>":
 *   down <id> | up <id> | rtt <id> <ms> | errors <apiKey> <errorCode> <count>
 *   topic <name> <partitions> | quit
 * EOF on stdin, SIGTERM and SIGINT exit cleanly, so a dying parent takes the
 * cluster with it.
 *
 * The mock brokers listen on 127.0.0.1 with ephemeral ports (librdkafka binds
 * them to INADDR_LOOPBACK); main() checks the bootstrap list to be sure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_ERRORS 1024

static rd_kafka_mock_cluster_t *mcluster;
static int broker_cnt = 1;

static void reply_err(const char *msg) {
        printf("ERR %s\n", msg);
        fflush(stdout);
}

static void reply(rd_kafka_resp_err_t err) {
        if (err)
                reply_err(rd_kafka_err2str(err));
        else {
                puts("OK");
                fflush(stdout);
        }
}

/* Parses a whole decimal integer; returns 0 on success. */
static int parse_long(const char *s, long *out) {
        char *end;
        if (!s || !*s)
                return -1;
        errno = 0;
        *out  = strtol(s, &end, 10);
        return (errno || *end) ? -1 : 0;
}

/* Creates a topic whose partition leaders go round the brokers (partition p on broker
 * p % brokers + 1), as a Kafka controller spreads them; this librdkafka picks each leader at
 * random, which could put every partition on one broker of several. */
static rd_kafka_resp_err_t create_topic(const char *name, long partitions) {
        int rf = broker_cnt < 3 ? broker_cnt : 3;
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, name, (int)partitions, rf);
        for (long p = 0; !err && p < partitions; p++)
                err = rd_kafka_mock_partition_set_leader(
                    mcluster, name, (int32_t)p, (int32_t)(p % broker_cnt) + 1);
        return err;
}

/* Handles one command line; returns 1 when the program should exit. */
static int handle(char *line) {
        char *argv[5] = {0};
        int argc      = 0;
        long a = 0, b = 0, c = 0;
        for (char *save = NULL, *tok = strtok_r(line, " \t\r", &save);
             tok && argc < 5; tok = strtok_r(NULL, " \t\r", &save))
                argv[argc++] = tok;

        if (argc == 0) {
                reply_err("empty command");
        } else if (!strcmp(argv[0], "quit") && argc == 1) {
                reply(RD_KAFKA_RESP_ERR_NO_ERROR);
                return 1;
        } else if ((!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) &&
                   argc == 2 && !parse_long(argv[1], &a)) {
                reply(argv[0][0] == 'd'
                          ? rd_kafka_mock_broker_set_down(mcluster, (int32_t)a)
                          : rd_kafka_mock_broker_set_up(mcluster, (int32_t)a));
        } else if (!strcmp(argv[0], "rtt") && argc == 3 &&
                   !parse_long(argv[1], &a) && !parse_long(argv[2], &b) &&
                   b >= 0) {
                reply(rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)a,
                                                   (int)b));
        } else if (!strcmp(argv[0], "errors") && argc == 4 &&
                   !parse_long(argv[1], &a) && !parse_long(argv[2], &b) &&
                   !parse_long(argv[3], &c)) {
                static rd_kafka_resp_err_t errs[MAX_ERRORS];
                if (c < 1 || c > MAX_ERRORS) {
                        reply_err("count must be 1..1024");
                        return 0;
                }
                for (long i = 0; i < c; i++)
                        errs[i] = (rd_kafka_resp_err_t)b;
                rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)a,
                                                        (size_t)c, errs);
                reply(RD_KAFKA_RESP_ERR_NO_ERROR);
        } else if (!strcmp(argv[0], "topic") && argc == 3 &&
                   !parse_long(argv[2], &a)) {
                if (a < 1)
                        reply_err("partitions must be >= 1");
                else
                        reply(create_topic(argv[1], a));
        } else {
                reply_err("usage: down <id> | up <id> | rtt <id> <ms> | "
                          "errors <apiKey> <errorCode> <count> | "
                          "topic <name> <partitions> | quit");
        }
        return 0;
}

/* Every bootstrap entry must be 127.0.0.1:<port>: loopback only. */
static int bootstraps_are_loopback(const char *bootstraps) {
        char *copy = strdup(bootstraps), *save = NULL;
        int ok     = 1;
        for (char *tok = strtok_r(copy, ",", &save); tok;
             tok       = strtok_r(NULL, ",", &save))
                if (strncmp(tok, "127.0.0.1:", 10))
                        ok = 0;
        free(copy);
        return ok;
}

int main(int argc, char **argv) {
        char errstr[512];
        const char *topics[256];
        int topic_cnt = 0;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
                        broker_cnt = atoi(argv[++i]);
                } else if (!strcmp(argv[i], "--topic") && i + 1 < argc &&
                           topic_cnt < 256) {
                        topics[topic_cnt++] = argv[++i];
                } else {
                        fprintf(stderr,
                                "usage: %s [--brokers N] "
                                "[--topic name:partitions]...\n",
                                argv[0]);
                        return 2;
                }
        }
        if (broker_cnt < 1) {
                fprintf(stderr, "--brokers must be >= 1\n");
                return 2;
        }

        /* Block the exit signals before librdkafka starts its threads (they
         * inherit the mask), then receive them through a signalfd in the
         * main loop, next to stdin. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigprocmask(SIG_BLOCK, &sigs, NULL);
        int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
        signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill us */

        /* The handle only hosts the mock cluster; it never connects to a
         * broker. Quiet its logs: without bootstrap.servers it complains. */
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
                                      sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rd_kafka_new failed: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
        if (!mcluster) {
                fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
        int rc                 = 0;
        if (!bootstraps_are_loopback(bootstraps)) {
                fprintf(stderr, "mock cluster is not on loopback: %s\n",
                        bootstraps);
                rc = 1;
                goto done;
        }

        for (int i = 0; i < topic_cnt; i++) {
                char *name  = strdup(topics[i]);
                char *colon = strrchr(name, ':');
                long parts  = 0;
                if (!colon || colon == name || parse_long(colon + 1, &parts) ||
                    parts < 1) {
                        fprintf(stderr, "bad --topic %s (want name:N)\n",
                                topics[i]);
                        free(name);
                        rc = 2;
                        goto done;
                }
                *colon                  = '\0';
                rd_kafka_resp_err_t err = create_topic(name, parts);
                if (err) {
                        fprintf(stderr, "create topic %s: %s\n", name,
                                rd_kafka_err2str(err));
                        free(name);
                        rc = 1;
                        goto done;
                }
                free(name);
        }

        printf("BOOTSTRAP %s\n", bootstraps);
        fflush(stdout);

        /* Line-buffered command loop over raw read(2) so poll() can watch
         * stdin and the signalfd together. */
        char buf[4096];
        size_t len = 0;
        for (;;) {
                struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                        {.fd = sfd, .events = POLLIN}};
                if (poll(fds, sfd >= 0 ? 2 : 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (fds[1].revents)
                        break; /* SIGTERM / SIGINT */
                if (!fds[0].revents)
                        continue;
                ssize_t r = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break; /* EOF: the parent is gone */
                len += (size_t)r;

                char *nl;
                int quit = 0;
                while (!quit && (nl = memchr(buf, '\n', len))) {
                        *nl          = '\0';
                        quit         = handle(buf);
                        size_t used  = (size_t)(nl - buf) + 1;
                        memmove(buf, nl + 1, len - used);
                        len -= used;
                }
                if (quit)
                        break;
                if (len == sizeof(buf)) {
                        reply_err("line too long");
                        len = 0;
                }
        }

done:
        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return rc;
}
