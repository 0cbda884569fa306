package io.imskms.api;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmSession;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * Times every call through the {@link Hsm} and each {@link HsmSession} it opens
 * ({@code kms_hsm_calls_seconds{call,outcome}}); arguments and results pass through untouched
 * and are never recorded. A dynamic proxy so that every adapter method is counted, including
 * ones added later.
 */
final class MeteredHsm {
  private MeteredHsm() {}

  static Hsm wrap(Hsm hsm, ApiMetrics metrics) {
    return (Hsm) Proxy.newProxyInstance(Hsm.class.getClassLoader(), new Class<?>[] {Hsm.class},
        new Timing(hsm, metrics, ""));
  }

  private static final class Timing implements InvocationHandler {
    private final Object target;
    private final ApiMetrics metrics;
    private final String prefix;

    Timing(Object target, ApiMetrics metrics, String prefix) {
      this.target = target;
      this.metrics = metrics;
      this.prefix = prefix;
    }

    @Override
    public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
      if (m.getDeclaringClass() == Object.class) {
        if (m.getName().equals("equals")) {
          return proxy == args[0];
        }
        if (m.getName().equals("hashCode")) {
          return System.identityHashCode(proxy);
        }
        return "MeteredHsm[" + target.getClass().getSimpleName() + "]";
      }
      boolean timed = !m.getName().equals("status") && !m.getName().equals("capabilities");
      long t0 = System.nanoTime();
      Throwable failure = null;
      try {
        Object result = m.invoke(target, args);
        if (result instanceof HsmSession) {
          return Proxy.newProxyInstance(HsmSession.class.getClassLoader(),
              new Class<?>[] {HsmSession.class}, new Timing(result, metrics, "session."));
        }
        return result;
      } catch (InvocationTargetException e) {
        failure = e.getCause();
        throw failure;
      } finally {
        if (timed) {
          metrics.hsmCall(prefix + m.getName(), ApiMetrics.outcomeOf(failure),
              System.nanoTime() - t0);
        }
      }
    }
  }
}
