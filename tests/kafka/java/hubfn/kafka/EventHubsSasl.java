package hubfn.kafka;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.Provider;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.security.auth.callback.CallbackHandler;
import javax.security.sasl.Sasl;
import javax.security.sasl.SaslException;
import javax.security.sasl.SaslServer;
import javax.security.sasl.SaslServerFactory;

import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.security.auth.SecurityProviderCreator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes SASL/PLAIN on a Kafka broker behave like the Azure Event Hubs Kafka endpoint.
 *
 * Registered with the broker setting {@code security.providers=hubfn.kafka.EventHubsSasl}: Kafka
 * inserts the provider returned here at the front of the JCA provider list, so
 * {@code Sasl.createSaslServer("PLAIN", ...)} (which Kafka's SaslServerAuthenticator calls) finds
 * this factory before Kafka's own PlainSaslServerProvider. The SASL server:
 * <ul>
 * <li>requires the username {@code $ConnectionString};</li>
 * <li>parses the password as an Event Hubs connection string ({@code ;}-separated {@code key=value},
 *     keys case-insensitive);</li>
 * <li>accepts it only when its SharedAccessKeyName / SharedAccessKey pair is a line
 *     {@code NAME KEY} of the policies file (system property {@code hubfn.policies}, else env
 *     {@code HF_KAFKA_POLICIES}), re-read on every authentication;</li>
 * <li>reports the policy name as the authorization id, so the Kafka principal is
 *     {@code User:<SharedAccessKeyName>} and ACLs decide what the policy may do.</li>
 * </ul>
 */
public final class EventHubsSasl implements SecurityProviderCreator {
    public static final String PROVIDER_NAME = "HubfnEventHubsSasl";
    public static final String USERNAME = "$ConnectionString";
    private static final Logger log = LoggerFactory.getLogger(EventHubsSasl.class);
    private static final EhProvider PROVIDER = new EhProvider();

    public EventHubsSasl() {
    }

    @Override
    public void configure(Map<String, ?> configs) {
    }

    @Override
    public Provider getProvider() {
        return PROVIDER;
    }

    static String policiesPath() {
        String p = System.getProperty("hubfn.policies");
        if (p == null || p.isEmpty())
            p = System.getenv("HF_KAFKA_POLICIES");
        return p;
    }

    /** The JCA provider: only a PLAIN SaslServerFactory. */
    public static final class EhProvider extends Provider {
        private static final long serialVersionUID = 1L;

        public EhProvider() {
            super(PROVIDER_NAME, "1.0", "Azure Event Hubs style SASL/PLAIN ($ConnectionString + SAS policies)");
            put("SaslServerFactory.PLAIN", Factory.class.getName());
        }
    }

    public static final class Factory implements SaslServerFactory {
        public Factory() {
        }

        @Override
        public SaslServer createSaslServer(String mechanism, String protocol, String serverName,
                                           Map<String, ?> props, CallbackHandler cbh) throws SaslException {
            if (!"PLAIN".equals(mechanism))
                return null;
            return new Server();
        }

        @Override
        public String[] getMechanismNames(Map<String, ?> props) {
            if (props != null && "true".equals(String.valueOf(props.get(Sasl.POLICY_NOPLAINTEXT))))
                return new String[0];
            return new String[] {"PLAIN"};
        }
    }

    static final class Server implements SaslServer {
        private boolean complete;
        private String authorizationId;

        @Override
        public String getMechanismName() {
            return "PLAIN";
        }

        @Override
        public byte[] evaluateResponse(byte[] response) throws SaslException {
            if (complete)
                throw new IllegalStateException("Authentication exchange has already completed");
            // RFC 4616: [authzid] NUL authcid NUL passwd
            String msg = new String(response, StandardCharsets.UTF_8);
            int a = msg.indexOf('\0');
            int b = a < 0 ? -1 : msg.indexOf('\0', a + 1);
            if (a < 0 || b < 0 || msg.indexOf('\0', b + 1) >= 0)
                throw new SaslException("Invalid SASL/PLAIN response: expected 3 tokens");
            String authzid = msg.substring(0, a);
            String user = msg.substring(a + 1, b);
            String password = msg.substring(b + 1);

            if (!USERNAME.equals(user)) {
                log.info("hubfn-eventhubs: rejected SASL/PLAIN username '{}' (must be $ConnectionString)", user);
                throw new SaslAuthenticationException(
                    "Authentication failed: the username must be $ConnectionString and the password an Event Hubs connection string");
            }
            String keyName = null, key = null;
            boolean endpoint = false;
            for (String part : password.split(";")) {
                int eq = part.indexOf('=');
                if (eq <= 0)
                    continue;
                String k = part.substring(0, eq).trim().toLowerCase(Locale.ROOT);
                String v = part.substring(eq + 1).trim();
                switch (k) {
                    case "sharedaccesskeyname": keyName = v; break;
                    case "sharedaccesskey": key = v; break;
                    case "endpoint": endpoint = !v.isEmpty(); break;
                    default: break;
                }
            }
            if (!endpoint || keyName == null || keyName.isEmpty() || key == null || key.isEmpty()) {
                log.info("hubfn-eventhubs: rejected a password that is not a connection string with Endpoint, SharedAccessKeyName and SharedAccessKey");
                throw new SaslAuthenticationException(
                    "Authentication failed: the password must be an Event Hubs connection string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...)");
            }
            if (!authzid.isEmpty() && !authzid.equals(user) && !authzid.equals(keyName))
                throw new SaslAuthenticationException(
                    "Authentication failed: Client requested an authorization id that is different from username");
            String known = lookup(keyName);
            if (known == null || !MessageDigest.isEqual(known.getBytes(StandardCharsets.UTF_8),
                                                        key.getBytes(StandardCharsets.UTF_8))) {
                log.info("hubfn-eventhubs: rejected SharedAccessKeyName={} ({})", keyName,
                         known == null ? "no such policy" : "wrong SharedAccessKey");
                throw new SaslAuthenticationException(
                    "Authentication failed: invalid SharedAccessKeyName or SharedAccessKey");
            }
            authorizationId = keyName;
            complete = true;
            log.debug("hubfn-eventhubs: authenticated policy {}", keyName);
            return new byte[0];
        }

        /** The key of policy NAME in the policies file (last line wins), or null. */
        private static String lookup(String name) throws SaslException {
            String path = policiesPath();
            if (path == null || path.isEmpty())
                throw new SaslException("hubfn-eventhubs: no policies file (system property hubfn.policies)");
            List<String> lines;
            try {
                lines = Files.readAllLines(Paths.get(path), StandardCharsets.UTF_8);
            } catch (NoSuchFileException e) {
                return null;
            } catch (IOException e) {
                throw new SaslException("hubfn-eventhubs: cannot read " + path + ": " + e, e);
            }
            String found = null;
            for (String line : lines) {
                String t = line.trim();
                if (t.isEmpty() || t.startsWith("#"))
                    continue;
                String[] f = t.split("\\s+");
                if (f.length >= 2 && f[0].equals(name))
                    found = f[1];
            }
            return found;
        }

        @Override
        public boolean isComplete() {
            return complete;
        }

        @Override
        public String getAuthorizationID() {
            if (!complete)
                throw new IllegalStateException("Authentication exchange has not completed");
            return authorizationId;
        }

        @Override
        public byte[] unwrap(byte[] incoming, int offset, int len) {
            throw new IllegalStateException("SASL/PLAIN has no security layer");
        }

        @Override
        public byte[] wrap(byte[] outgoing, int offset, int len) {
            throw new IllegalStateException("SASL/PLAIN has no security layer");
        }

        @Override
        public Object getNegotiatedProperty(String propName) {
            if (!complete)
                throw new IllegalStateException("Authentication exchange has not completed");
            return null;
        }

        @Override
        public void dispose() {
        }
    }
}
