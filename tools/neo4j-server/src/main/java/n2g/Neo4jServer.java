package n2g;

import java.io.IOException;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.Config;
import org.neo4j.configuration.SettingImpl;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.internal.kernel.api.connectioninfo.ClientConnectionInfo;
import org.neo4j.internal.kernel.api.security.AuthenticationResult;
import org.neo4j.kernel.api.security.AuthManager;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * n2g's local Neo4j server: the Community DBMS embedded in one small process, Bolt on 127.0.0.1, auth on.
 *
 * <pre>
 *   NEO4J_PASSWORD=... java -cp 'lib/*:classes' n2g.Neo4jServer --home DIR --port N [--pagecache 256m] [--tx-memory 1g]
 *       [--watch-pid PID]
 * </pre>
 *
 * Data and Neo4j's own logs live under DIR (DIR/data, DIR/logs). DIR/neo4j.conf, if present, is read first (it is
 * also what neo4j-admin reads through NEO4J_CONF); the settings below always win over it. On a fresh DIR the
 * initial user neo4j/neo4j gets NEO4J_PASSWORD; on an existing DIR the password must match the stored one.
 * Once Bolt answers it prints exactly one line, {@code n2g-neo4j ready bolt://127.0.0.1:PORT}, on stdout.
 * SIGTERM (or SIGINT) shuts the DBMS down cleanly and exits 0. Failures print one line on stderr and exit:
 * 2 bad arguments or password, 3 port taken, 4 wrong password for an existing DIR, 1 anything else.
 * With --watch-pid the server also stops cleanly (exit 0) when that process ends, however it ends: a test run or
 * benchmark that is killed leaves no server behind.
 */
public final class Neo4jServer {
    private static final String USER = "neo4j";
    private static final int MIN_PASSWORD = 8;
    private static final String USAGE =
            "usage: --home DIR --port N [--pagecache 256m] [--tx-memory 1g] [--watch-pid PID]";

    private Neo4jServer() {}

    /** One line on stderr, then exit: the Python launcher shows that line to the user. */
    private static void fail(int code, String message) {
        System.err.println("n2g-neo4j: " + message);
        System.err.flush();
        System.exit(code);
    }

    public static void main(String[] args) {
        PrintStream out = System.out;
        Path home = null;
        int port = -1;
        String pagecache = "256m";
        String txMemory = "1g";
        long watchPid = -1;
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (i + 1 >= args.length) {
                fail(2, "missing value after " + flag);
            }
            String value = args[++i];
            switch (flag) {
                case "--home" -> home = Path.of(value).toAbsolutePath().normalize();
                case "--port" -> {
                    try {
                        port = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        fail(2, "--port needs a number, not " + value);
                    }
                }
                case "--pagecache" -> pagecache = value;
                case "--tx-memory" -> txMemory = value;
                case "--watch-pid" -> {
                    try {
                        watchPid = Long.parseLong(value);
                    } catch (NumberFormatException e) {
                        fail(2, "--watch-pid needs a process id, not " + value);
                    }
                }
                default -> fail(2, "unknown argument " + flag + " (" + USAGE + ")");
            }
        }
        if (home == null || port < 1 || port > 65535) {
            fail(2, USAGE);
        }
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < MIN_PASSWORD) {
            fail(2, "set NEO4J_PASSWORD to a password of at least " + MIN_PASSWORD + " characters");
        }
        // Neo4j would also refuse a taken port, but only after seconds of start-up and with a long stack trace.
        if (!portFree(port)) {
            fail(3, "port " + port + " on 127.0.0.1 is already in use");
        }
        try {
            Files.createDirectories(home);
        } catch (IOException e) {
            fail(1, "cannot create " + home + ": " + e.getMessage());
        }

        DatabaseManagementService service = null;
        try {
            service = build(home, port, pagecache, txMemory).build();
        } catch (Throwable e) {
            if (causedBy(e, BindException.class)) {
                fail(3, "port " + port + " on 127.0.0.1 is already in use");
            }
            fail(1, "Neo4j did not start: " + rootMessage(e) + " (see " + home.resolve("logs/debug.log") + ")");
        }
        final DatabaseManagementService dbms = service;
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            try {
                dbms.shutdown();
            } finally {
                stopped.countDown();
            }
        }, "n2g-neo4j-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        if (watchPid > 0) {
            // The watched process (the test run, the benchmark) is gone: stop as SIGTERM would. A pid that is
            // already gone stops the server at once.
            ProcessHandle.of(watchPid).map(ProcessHandle::onExit)
                    .orElse(java.util.concurrent.CompletableFuture.completedFuture(null))
                    .thenRun(() -> System.exit(0));
        }
        // The JVM's own SIGTERM handling runs the hooks but exits 143; a stop asked for is a clean stop: exit 0.
        for (String name : new String[] {"TERM", "INT"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> System.exit(0));
        }

        try {
            setPassword(dbms, password);
        } catch (WrongPassword e) {
            fail(4, "NEO4J_PASSWORD is not the password of the database in " + home
                    + " (it was set when that directory was first started)");
        } catch (Throwable e) {
            fail(1, "could not set the password: " + rootMessage(e));
        }

        out.println("n2g-neo4j ready bolt://127.0.0.1:" + port);
        out.flush();
        try {
            stopped.await(); // never returns normally: SIGTERM/SIGINT -> System.exit(0) -> the hook -> exit 0
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static DatabaseManagementServiceBuilder build(Path home, int port, String pagecache, String txMemory) {
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        Path conf = home.resolve("neo4j.conf");
        if (Files.isRegularFile(conf)) {
            builder.loadPropertiesFromFile(conf);
        }
        Map<String, String> forced = new LinkedHashMap<>();
        forced.put("dbms.security.auth_enabled", "true");
        forced.put("server.bolt.enabled", "true");
        forced.put("server.bolt.listen_address", "127.0.0.1:" + port);
        forced.put("server.bolt.advertised_address", "127.0.0.1:" + port);
        forced.put("server.http.enabled", "false");
        forced.put("server.https.enabled", "false");
        forced.put("dbms.usage_report.enabled", "false");
        forced.put("server.memory.pagecache.size", pagecache);
        forced.put("dbms.memory.transaction.total.max", txMemory);
        forced.put("db.tx_log.preallocate", "false");
        // Netty waits a 5 s quiet period per event loop group (bolt and bolt-local) at shutdown: 10 s per stop.
        // Connections are closed and the databases checkpointed before this point, so nothing is lost.
        // (An internal setting: 5.26 has it, the 2025/2026 calendar releases do not; skipped where unknown.)
        forced.put("internal.dbms.bolt.netty_server_shutdown_quiet_period", "0");
        setRaw(builder, forced);
        return builder;
    }

    /** The embedded builder (5.26) takes typed values only; parse each string the way neo4j.conf would be. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void setRaw(DatabaseManagementServiceBuilder builder, Map<String, String> raw) {
        Map<String, Setting<Object>> declared = Config.defaults().getDeclaredSettings();
        for (Map.Entry<String, String> entry : raw.entrySet()) {
            Setting<Object> setting = declared.get(entry.getKey());
            if (setting == null && entry.getKey().startsWith("internal.")) {
                continue; // internal settings are tuning only, and come and go between releases
            }
            if (setting == null) {
                throw new IllegalArgumentException("unknown Neo4j setting " + entry.getKey());
            }
            Object value = ((SettingImpl) setting).parse(entry.getValue());
            builder.setConfig(setting, value);
        }
    }

    private static final class WrongPassword extends Exception {}

    /**
     * A fresh DBMS has neo4j/neo4j with a change required: set NEO4J_PASSWORD. An existing one must already
     * accept NEO4J_PASSWORD; silently resetting it would let anyone with the launcher take over the database.
     */
    private static void setPassword(DatabaseManagementService dbms, String password) throws Exception {
        GraphDatabaseService system = dbms.database("system");
        AuthManager auth = ((GraphDatabaseAPI) system).getDependencyResolver().resolveDependency(AuthManager.class);
        AuthenticationResult result = login(auth, password);
        if (result == AuthenticationResult.SUCCESS) {
            return;
        }
        if (login(auth, AuthManager.INITIAL_PASSWORD) != AuthenticationResult.PASSWORD_CHANGE_REQUIRED) {
            throw new WrongPassword();
        }
        system.executeTransactionally("ALTER USER " + USER + " SET PASSWORD $pw CHANGE NOT REQUIRED",
                Map.of("pw", password));
    }

    private static AuthenticationResult login(AuthManager auth, String password) throws Exception {
        Map<String, Object> token = Map.of("scheme", "basic", "principal", USER,
                "credentials", password.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return auth.login(new java.util.HashMap<>(token), ClientConnectionInfo.EMBEDDED_CONNECTION)
                .subject().getAuthenticationResult();
    }

    private static boolean portFree(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean causedBy(Throwable e, Class<? extends Throwable> kind) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (kind.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        String line = root.getClass().getSimpleName() + (message == null ? "" : ": " + message);
        int newline = line.indexOf('\n');
        return newline < 0 ? line : line.substring(0, newline);
    }
}
