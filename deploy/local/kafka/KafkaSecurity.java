import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Applies SCRAM users and ACLs through Kafka's own Admin API, in one JVM (deploy/local/kafka_security.py).
 *
 * <p>Usage: java -cp 'libs/*' KafkaSecurity.java BOOTSTRAP, with tab-separated lines on stdin (so no
 * password shows in a process list):
 * user MECHANISM NAME PASSWORD | acl PRINCIPAL RESOURCE PATTERN NAME OPERATION | scope NAME.
 * Users are upserted; the ACLs listed are created; an ACL of a user listed here, on a name in scope,
 * that is not listed is deleted. Returns once the broker enforces the result.
 */
public final class KafkaSecurity {
    private static final int ITERATIONS = 8192;

    public static void main(String[] args) throws Exception {
        List<UserScramCredentialAlteration> users = new ArrayList<>();
        Set<String> principals = new HashSet<>();
        Set<AclBinding> wanted = new LinkedHashSet<>();
        Set<String> scope = new HashSet<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] f = line.split("\t");
            switch (f[0]) {
                case "user" -> {
                    ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.fromMechanismName(f[1]), ITERATIONS);
                    users.add(new UserScramCredentialUpsertion(f[2], info, f[3]));
                    principals.add("User:" + f[2]);
                }
                case "acl" -> wanted.add(new AclBinding(
                    new ResourcePattern(ResourceType.fromString(f[2]), f[4], PatternType.fromString(f[3])),
                    new AccessControlEntry(f[1], "*", AclOperation.fromString(f[5]), AclPermissionType.ALLOW)));
                case "scope" -> scope.add(f[1]);
                default -> throw new IllegalArgumentException("unknown line: " + f[0]);
            }
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "outgoing-security");
        try (Admin admin = Admin.create(props)) {
            if (!users.isEmpty()) {
                admin.alterUserScramCredentials(users).all().get();
            }
            Collection<AclBinding> existing = admin.describeAcls(AclBindingFilter.ANY).values().get();
            List<AclBindingFilter> stale = existing.stream()
                .filter(b -> principals.contains(b.entry().principal()) && scope.contains(b.pattern().name()) && !wanted.contains(b))
                .map(AclBinding::toFilter)
                .toList();
            if (!stale.isEmpty()) {
                admin.deleteAcls(stale).all().get();
            }
            List<AclBinding> missing = wanted.stream().filter(b -> !existing.contains(b)).toList();
            if (!missing.isEmpty()) {
                admin.createAcls(missing).all().get();
            }
            awaitEnforced(admin, principals, wanted);
            System.out.printf("users: %d upserted; acls: %d created, %d deleted, %d in place%n",
                users.size(), missing.size(), stale.size(), wanted.size() - missing.size());
        }
    }

    /** The broker applies metadata records a moment after the controller commits them: wait until it sees them. */
    private static void awaitEnforced(Admin admin, Set<String> principals, Set<AclBinding> wanted) throws Exception {
        Set<String> names = new HashSet<>();
        principals.forEach(p -> names.add(p.substring("User:".length())));
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            Collection<AclBinding> seen = admin.describeAcls(AclBindingFilter.ANY).values().get();
            Map<String, UserScramCredentialsDescription> users = admin.describeUserScramCredentials().all().get();
            if (seen.containsAll(wanted) && users.keySet().containsAll(names)) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the broker did not apply the users and ACLs within 30 s");
            }
            Thread.sleep(100);
        }
    }
}
