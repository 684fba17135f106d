package hubfn.kafka;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Exit;

/**
 * Admin helper for tests/kafka/broker.sh: several operations in one JVM start.
 * <pre>
 *   HubfnAdmin topics BOOTSTRAP [--config KEY=VALUE]... NAME PARTITIONS [NAME PARTITIONS ...]
 *       create the topics in one request (replication factor 1, each with the given topic
 *       configs, e.g. cleanup.policy=compact), succeed for an existing topic with the same
 *       partition count, then wait until every partition has a leader
 *   HubfnAdmin acls BOOTSTRAP ARGS... [--and ARGS...]...
 *       run Kafka's ACL tool (kafka.admin.AclCommand) once per ARGS group, in this JVM
 * </pre>
 */
public final class HubfnAdmin {
    private HubfnAdmin() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: HubfnAdmin topics BOOTSTRAP NAME PARTITIONS... | acls BOOTSTRAP ARGS... [--and ARGS...]");
            System.exit(2);
        }
        String cmd = args[0], boot = args[1];
        String[] rest = Arrays.copyOfRange(args, 2, args.length);
        int rc;
        switch (cmd) {
            case "topics": rc = topics(boot, rest); break;
            case "acls": rc = acls(boot, rest); break;
            default:
                System.err.println("HubfnAdmin: unknown command " + cmd);
                rc = 2;
        }
        System.exit(rc);
    }

    private static int topics(String boot, String[] args) throws Exception {
        Map<String, String> configs = new LinkedHashMap<>();
        int first = 0;
        while (first < args.length && args[first].equals("--config")) {
            String kv = first + 1 < args.length ? args[first + 1] : "";
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                System.err.println("topics: --config needs KEY=VALUE, got '" + kv + "'");
                return 2;
            }
            configs.put(kv.substring(0, eq), kv.substring(eq + 1));
            first += 2;
        }
        String[] a = Arrays.copyOfRange(args, first, args.length);
        if (a.length == 0 || a.length % 2 != 0) {
            System.err.println("topics: expected NAME PARTITIONS pairs");
            return 2;
        }
        Map<String, Integer> want = new LinkedHashMap<>();
        for (int i = 0; i < a.length; i += 2) {
            int n;
            try {
                n = Integer.parseInt(a[i + 1]);
            } catch (NumberFormatException e) {
                n = -1;
            }
            if (n < 1) {
                System.err.println("topics: bad partition count '" + a[i + 1] + "' for " + a[i]);
                return 2;
            }
            want.put(a[i], n);
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, boot);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "hubfn-broker-sh");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        int rc = 0;
        try (Admin admin = Admin.create(p)) {
            List<NewTopic> nts = new ArrayList<>();
            want.forEach((name, n) -> nts.add(new NewTopic(name, n, (short) 1).configs(configs)));
            Map<String, org.apache.kafka.common.KafkaFuture<Void>> res = admin.createTopics(nts).values();
            for (Map.Entry<String, Integer> e : want.entrySet()) {
                try {
                    res.get(e.getKey()).get();
                    System.out.println("created topic " + e.getKey() + " (" + e.getValue() + " partitions)");
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof TopicExistsException)) {
                        System.err.println("topic " + e.getKey() + ": " + ex.getCause());
                        rc = 1;
                    }
                }
            }
            long deadline = System.currentTimeMillis() + 60000;
            Map<String, Integer> pending = new HashMap<>(want);
            while (!pending.isEmpty()) {
                Map<String, TopicDescription> d;
                try {
                    d = admin.describeTopics(pending.keySet()).allTopicNames().get();
                } catch (ExecutionException ex) {
                    d = null;
                }
                if (d != null) {
                    for (TopicDescription td : d.values()) {
                        boolean ready = true;
                        for (TopicPartitionInfo tp : td.partitions())
                            if (tp.leader() == null || tp.leader().isEmpty())
                                ready = false;
                        if (!ready)
                            continue;
                        int expect = pending.remove(td.name());
                        if (td.partitions().size() != expect) {
                            System.err.println("topic " + td.name() + " exists with " + td.partitions().size()
                                               + " partitions, not " + expect);
                            rc = 1;
                        }
                    }
                }
                if (pending.isEmpty())
                    break;
                if (System.currentTimeMillis() > deadline) {
                    System.err.println("timed out waiting for leaders of " + pending.keySet());
                    return 1;
                }
                Thread.sleep(50);
            }
        }
        return rc;
    }

    private static final class ExitCalled extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int code;

        ExitCalled(int code) {
            super("exit " + code, null, false, false);
            this.code = code;
        }
    }

    private static int acls(String boot, String[] a) {
        Exit.setExitProcedure((code, msg) -> {
            throw new ExitCalled(code);
        });
        List<List<String>> groups = new ArrayList<>();
        List<String> cur = new ArrayList<>();
        for (String s : a) {
            if (s.equals("--and")) {
                groups.add(cur);
                cur = new ArrayList<>();
            } else {
                cur.add(s);
            }
        }
        groups.add(cur);
        for (List<String> g : groups) {
            if (g.isEmpty())
                continue;
            List<String> argv = new ArrayList<>();
            argv.add("--bootstrap-server");
            argv.add(boot);
            argv.addAll(g);
            try {
                kafka.admin.AclCommand.main(argv.toArray(new String[0]));
            } catch (ExitCalled e) {
                if (e.code != 0)
                    return e.code;
            }
        }
        return 0;
    }
}
