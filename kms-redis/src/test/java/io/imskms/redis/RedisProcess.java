package io.imskms.redis;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code redis-server} process for tests: its own free port (never 6379) and its own
 * directory under {@code target/}, no persistence ({@code --save '' --appendonly no}), started
 * and stopped by PID. Public, in kms-redis's test-jar, for vertx-api's and kms-cli's tests.
 */
public final class RedisProcess implements AutoCloseable {
  private final Path dir;
  private final int port;
  private final List<String> extra;
  private Process process;

  private RedisProcess(Path dir, int port, List<String> extra) {
    this.dir = dir;
    this.port = port;
    this.extra = List.copyOf(extra);
  }

  /** The {@code redis-server} found on PATH, or an exception that says how to install it. */
  public static String binary() {
    for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      Path p = Path.of(d, "redis-server");
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    throw new IllegalStateException("redis-server is not on PATH: run bin/kms test (it installs"
        + " it) or apt-get update && apt-get install -y redis-server");
  }

  /** Starts a primary on a free port. */
  public static RedisProcess start(String name, String... extraArgs) throws IOException {
    Path base = Path.of(System.getProperty("java.io.tmpdir"), "redis-test");
    Files.createDirectories(base);
    Path dir = Files.createTempDirectory(base, name + "-");
    RedisProcess r = new RedisProcess(dir, freePort(), List.of(extraArgs));
    r.launch();
    return r;
  }

  /** Starts a replica of {@code primary} on a free port. */
  public static RedisProcess replicaOf(RedisProcess primary) throws IOException {
    return start("replica", "--replicaof", "127.0.0.1", Integer.toString(primary.port()));
  }

  static int freePort() throws IOException {
    for (int i = 0; i < 20; i++) {
      try (ServerSocket s = new ServerSocket(0)) {
        int p = s.getLocalPort();
        if (p != 6379) {
          return p;
        }
      }
    }
    throw new IOException("no free port");
  }

  private void launch() throws IOException {
    List<String> cmd = new ArrayList<>(List.of(binary(), "--port", Integer.toString(port),
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.toString(),
        "--daemonize", "no", "--protected-mode", "no", "--logfile",
        dir.resolve("redis.log").toString()));
    cmd.addAll(extra);
    process = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("stdout.log").toFile()).start();
    // A test that dies before its close() must not leave redis-server behind: the JVM's exit
    // kills it (by its own Process handle, i.e. by PID).
    Process started = process;
    Runtime.getRuntime().addShutdownHook(new Thread(started::destroyForcibly, "redis-reaper"));
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("redis-server exited at start: see " + dir.resolve("redis.log"));
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException e) {
        sleep(50);
      }
    }
    throw new IOException("redis-server did not listen on " + port + " within 10 s");
  }

  public int port() {
    return port;
  }

  public String endpoint() {
    return "redis://127.0.0.1:" + port;
  }

  public long pid() {
    return process.pid();
  }

  /** Kills the process (SIGKILL, by PID) and waits for it: its data is gone. */
  public void kill() {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Starts the process again on the same port, empty (no persistence). */
  public void restart() throws IOException {
    kill();
    launch();
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    kill();
  }
}
