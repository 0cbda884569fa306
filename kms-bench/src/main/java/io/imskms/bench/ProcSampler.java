package io.imskms.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** CPU time and resident memory of another process, from /proc/PID/stat and status (Linux). */
final class ProcSampler {
  /** USER_HZ: the unit of utime and stime; 100 on every Linux this runs on (getconf CLK_TCK). */
  private static final long TICK_NANOS = 10_000_000L;

  private final long pid;

  ProcSampler(long pid) {
    this.pid = pid;
  }

  /** User and system CPU time of the whole process (all threads), in nanoseconds. */
  record Cpu(long userNanos, long systemNanos) {
    long total() {
      return userNanos + systemNanos;
    }

    Cpu minus(Cpu o) {
      return new Cpu(userNanos - o.userNanos, systemNanos - o.systemNanos);
    }
  }

  Cpu cpu() {
    try {
      return parseStat(Files.readString(Path.of("/proc/" + pid + "/stat")));
    } catch (IOException e) {
      return new Cpu(0, 0);
    }
  }

  /** Fields 14 and 15 of proc(5) stat, counted after the parenthesised command name. */
  static Cpu parseStat(String stat) {
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
    return new Cpu(Long.parseLong(f[11]) * TICK_NANOS, Long.parseLong(f[12]) * TICK_NANOS);
  }

  /** VmRSS in bytes, or -1 if the process is gone. */
  long rssBytes() {
    try {
      return parseRss(Files.readString(Path.of("/proc/" + pid + "/status")));
    } catch (IOException e) {
      return -1;
    }
  }

  static long parseRss(String status) {
    for (String line : status.split("\n")) {
      if (line.startsWith("VmRSS:")) {
        String[] p = line.substring(6).trim().split("\\s+");
        return Long.parseLong(p[0]) * 1024;
      }
    }
    return -1;
  }

  /**
   * CPU time (user + system, ns) of the process's threads grouped by name, digits folded
   * ("vert.x-eventloop-thread-N"), from /proc/PID/task/TID/stat and comm.
   */
  java.util.Map<String, Long> threadCpu() {
    return perThreadGroup("stat", stat -> parseStat(stat).total(), Long::sum);
  }

  /**
   * For each thread group (name with digits folded), {@code parse} of the threads' file {@code
   * name} under /proc/PID/task/TID, merged with {@code merge}.
   */
  private <V> java.util.Map<String, V> perThreadGroup(String name,
      java.util.function.Function<String, V> parse, java.util.function.BinaryOperator<V> merge) {
    java.util.Map<String, V> out = new java.util.TreeMap<>();
    try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
      for (Path t : tasks.toList()) {
        try {
          String group = Files.readString(t.resolve("comm")).trim().replaceAll("[0-9]+", "N");
          out.merge(group, parse.apply(Files.readString(t.resolve(name))), merge);
        } catch (IOException gone) {
          // the thread ended meanwhile
        }
      }
    } catch (IOException e) {
      return out;
    }
    return out;
  }

  /**
   * How often a thread gave up its CPU: {@code voluntary} to wait (for work, a lock, the disk;
   * each is a wake-up later), {@code involuntary} because the scheduler took the CPU away.
   */
  record Switches(long voluntary, long involuntary) {
    static final Switches NONE = new Switches(0, 0);

    Switches minus(Switches o) {
      return new Switches(Math.max(0, voluntary - o.voluntary),
          Math.max(0, involuntary - o.involuntary));
    }

    Switches plus(Switches o) {
      return new Switches(voluntary + o.voluntary, involuntary + o.involuntary);
    }
  }

  /**
   * Context switches of the process's threads grouped as in {@link #threadCpu}, from
   * /proc/PID/task/TID/status ({@code voluntary_ctxt_switches}, {@code
   * nonvoluntary_ctxt_switches}).
   */
  java.util.Map<String, Switches> threadSwitches() {
    return perThreadGroup("status", ProcSampler::parseSwitches, Switches::plus);
  }

  static Switches parseSwitches(String status) {
    long voluntary = 0;
    long involuntary = 0;
    for (String line : status.split("\n")) {
      if (line.startsWith("voluntary_ctxt_switches:")) {
        voluntary = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
      } else if (line.startsWith("nonvoluntary_ctxt_switches:")) {
        involuntary = Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
      }
    }
    return new Switches(voluntary, involuntary);
  }

  /** Per thread group, the switches of {@code later} minus {@code earlier}. */
  static java.util.Map<String, Switches> minusSwitches(java.util.Map<String, Switches> later,
      java.util.Map<String, Switches> earlier) {
    return minus(later, earlier, Switches.NONE, Switches::minus);
  }

  /** CPU time (ns) of the JVM's JIT compiler threads ("C1/C2 CompilerThreadN") among these. */
  static long jitNanos(java.util.Map<String, Long> threadCpu) {
    return threadCpu.entrySet().stream().filter(e -> e.getKey().contains("Compiler"))
        .mapToLong(java.util.Map.Entry::getValue).sum();
  }

  /** CPU time (ns) of the JVM's JIT compiler threads now. */
  long jitNanos() {
    return jitNanos(threadCpu());
  }

  /** Per thread group, the CPU time of {@code later} minus {@code earlier} (groups of later). */
  static java.util.Map<String, Long> minus(java.util.Map<String, Long> later,
      java.util.Map<String, Long> earlier) {
    return minus(later, earlier, 0L, (a, b) -> Math.max(0, a - b));
  }

  /**
   * Per thread group of {@code later}, its value minus {@code earlier}'s ({@code zero} for a new
   * group). A thread that ended in between takes its counts with it, so {@code subtract} must
   * never go below zero.
   */
  private static <V> java.util.Map<String, V> minus(java.util.Map<String, V> later,
      java.util.Map<String, V> earlier, V zero, java.util.function.BinaryOperator<V> subtract) {
    java.util.Map<String, V> out = new java.util.TreeMap<>();
    later.forEach((k, v) -> out.put(k, subtract.apply(v, earlier.getOrDefault(k, zero))));
    return out;
  }

  /** Threads of the process (status Threads:). */
  int threads() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("Threads:")) {
          return Integer.parseInt(line.substring(8).trim());
        }
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }
}
