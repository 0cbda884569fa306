package io.imskms.api.logging;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;
import ch.qos.logback.core.LayoutBase;
import java.time.Instant;
import java.util.Map;
import org.slf4j.helpers.MessageFormatter;

/**
 * One JSON object per line: {@code time}, {@code level}, {@code logger}, {@code thread},
 * {@code message}, {@code requestId} (from the MDC key {@value #REQUEST_ID}, when set), and for
 * a throwable {@code error} (class and message), {@code causes} (class and message of each
 * cause, outermost first, at most {@value #MAX_CAUSES}; so the CKR_* name that an adapter
 * exception carries reaches the log when it is wrapped) and {@code stack} (the top throwable's
 * frames only, at most {@value #MAX_FRAMES}). Messages and exception texts of this project hold no secrets by
 * contract; this layout adds no other fields from the MDC, so nothing else leaks in.
 */
public final class JsonLayout extends LayoutBase<ILoggingEvent> {
  /** The MDC key the API sets while handling a request. */
  public static final String REQUEST_ID = "requestId";

  private static final int MAX_FRAMES = 12;
  private static final int MAX_CAUSES = 5;

  @Override
  public String doLayout(ILoggingEvent event) {
    StringBuilder b = new StringBuilder(256);
    b.append("{\"time\":\"").append(Instant.ofEpochMilli(event.getTimeStamp())).append('"');
    field(b, "level", event.getLevel().toString());
    field(b, "logger", event.getLoggerName());
    field(b, "thread", event.getThreadName());
    field(b, "message", message(event));
    Map<String, String> mdc = event.getMDCPropertyMap();
    if (mdc != null && mdc.get(REQUEST_ID) != null) {
      field(b, REQUEST_ID, mdc.get(REQUEST_ID));
    }
    IThrowableProxy t = event.getThrowableProxy();
    if (t != null) {
      field(b, "error", describe(t));
      // The causes, messages only: the CKR_* name of an HsmException inside a KmsException
      // is only in a cause. Bounded, and the chain is followed no further than that.
      IThrowableProxy c = t.getCause();
      if (c != null) {
        b.append(",\"causes\":[");
        for (int i = 0; c != null && i < MAX_CAUSES; i++, c = c.getCause()) {
          if (i > 0) {
            b.append(',');
          }
          b.append('"');
          escape(b, describe(c));
          b.append('"');
        }
        b.append(']');
      }
      b.append(",\"stack\":[");
      StackTraceElementProxy[] frames = t.getStackTraceElementProxyArray();
      int n = Math.min(frames.length, MAX_FRAMES);
      for (int i = 0; i < n; i++) {
        if (i > 0) {
          b.append(',');
        }
        b.append('"');
        escape(b, frames[i].getSTEAsString());
        b.append('"');
      }
      b.append(']');
    }
    b.append("}\n");
    return b.toString();
  }

  /**
   * The formatted message, except that a {@code byte[]} or {@code char[]} argument (which SLF4J
   * would print element by element) is replaced by its length: key material, PINs and request
   * bytes must not reach the log even through a careless call.
   */
  private static String message(ILoggingEvent event) {
    Object[] args = event.getArgumentArray();
    if (args == null) {
      return event.getFormattedMessage();
    }
    Object[] safe = null;
    for (int i = 0; i < args.length; i++) {
      Object a = args[i];
      String redacted = a instanceof byte[] ? "[" + ((byte[]) a).length + " bytes]"
          : a instanceof char[] ? "[" + ((char[]) a).length + " chars]" : null;
      if (redacted != null) {
        if (safe == null) {
          safe = args.clone();
        }
        safe[i] = redacted;
      }
    }
    return safe == null ? event.getFormattedMessage()
        : MessageFormatter.arrayFormat(event.getMessage(), safe).getMessage();
  }

  /** Class and message; a throwable's message never holds bytes of a key or request. */
  private static String describe(IThrowableProxy t) {
    return t.getClassName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
  }

  private static void field(StringBuilder b, String name, String value) {
    b.append(",\"").append(name).append("\":");
    if (value == null) {
      b.append("null");
      return;
    }
    b.append('"');
    escape(b, value);
    b.append('"');
  }

  static void escape(StringBuilder b, String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          b.append("\\\"");
          break;
        case '\\':
          b.append("\\\\");
          break;
        case '\n':
          b.append("\\n");
          break;
        case '\r':
          b.append("\\r");
          break;
        case '\t':
          b.append("\\t");
          break;
        default:
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
      }
    }
  }
}
