import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.kernel.internal.Version;

/**
 * Runs Neo4j Community embedded with its Bolt connector on a loopback address, so that the
 * Python side talks to it exactly as it talks to a production server.
 *
 * Arguments: home host port pagecacheBytes txTimeoutSeconds. The password comes from the
 * environment (CMDB_GRAPH_NEO4J_PASSWORD) so it never shows in a process listing. Further
 * settings, in neo4j.conf syntax, are read from HOME/neo4j.conf when it exists.
 *
 * On the first start, and whenever the password changes, the database is opened once with
 * Bolt closed to set the password; only then is Bolt opened to clients.
 */
public final class CmdbGraphNeo4j {
    private CmdbGraphNeo4j() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: CmdbGraphNeo4j HOME HOST PORT PAGECACHE_BYTES TX_TIMEOUT_SECONDS");
            System.exit(64);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        String host = args[1];
        int port = Integer.parseInt(args[2]);
        long pagecache = Long.parseLong(args[3]);
        long txTimeout = Long.parseLong(args[4]);
        String password = System.getenv("CMDB_GRAPH_NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("CMDB_GRAPH_NEO4J_PASSWORD must be set to at least 8 characters");
            System.exit(64);
        }
        Files.createDirectories(home);

        Path passwordMarker = home.resolve("password.sha256");
        String wanted = sha256(password);
        if (!Files.exists(passwordMarker) || !Files.readString(passwordMarker).trim().equals(wanted)) {
            DatabaseManagementService closed = builder(home, pagecache, txTimeout).build();
            closed.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
            closed.shutdown();
            Files.writeString(passwordMarker, wanted + "\n", StandardCharsets.UTF_8);
        }

        DatabaseManagementService service = builder(home, pagecache, txTimeout)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .build();
        CountDownLatch stopped = new CountDownLatch(1);
        Path state = home.resolve("launcher.json");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                service.shutdown();
            } finally {
                try {
                    Files.deleteIfExists(state);
                } catch (Exception ignored) {
                    // the Python side treats a dead PID as stopped anyway
                }
                stopped.countDown();
            }
        }, "cmdb-graph-shutdown"));

        String json = String.format(
                "{\"pid\": %d, \"host\": \"%s\", \"port\": %d, \"version\": \"%s\"}%n",
                ProcessHandle.current().pid(), host, port, Version.getNeo4jVersion());
        Path tmp = home.resolve("launcher.json.tmp");
        Files.writeString(tmp, json, StandardCharsets.UTF_8);
        Files.move(tmp, state, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        System.out.println("cmdb-graph neo4j ready on bolt://" + host + ":" + port);
        System.out.flush();
        stopped.await();
    }

    private static DatabaseManagementServiceBuilder builder(Path home, long pagecache, long txTimeout) {
        Map<org.neo4j.graphdb.config.Setting<?>, Object> config = new HashMap<>();
        config.put(GraphDatabaseSettings.auth_enabled, true);
        config.put(GraphDatabaseSettings.udc_enabled, false);
        config.put(GraphDatabaseInternalSettings.udc_network_enabled, false);
        config.put(BoltConnector.enabled, false);
        config.put(HttpConnector.enabled, false);
        config.put(GraphDatabaseSettings.pagecache_memory, pagecache);
        config.put(GraphDatabaseSettings.transaction_timeout, Duration.ofSeconds(txTimeout));
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        Path extra = home.resolve("neo4j.conf");
        if (Files.exists(extra)) {
            builder.loadPropertiesFromFile(extra);
        }
        return builder.setConfig(config);
    }

    private static String sha256(String text) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        return HexFormat.of().formatHex(digest.digest(text.getBytes(StandardCharsets.UTF_8)));
    }
}
