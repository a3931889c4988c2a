import java.util.List;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

/**
 * The local MongoDB-wire server: mongo-java-server on its H2 MVStore file backend, or in memory.
 *
 * <p>It reports MongoDB 5.0 (wire version 13) instead of the library's default wire version 8,
 * which current PyMongo refuses as too old. Usage: {@code OutgoingMongoServer HOST PORT [FILE]};
 * without FILE the data lives in memory only.
 */
public final class OutgoingMongoServer {

    private static final MongoVersion REPORTED = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(5, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 13;
        }
    };

    public static void main(String[] args) {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: OutgoingMongoServer HOST PORT [FILE]");
            System.exit(2);
        }
        MongoBackend backend = args.length == 3 ? new H2Backend(args[2]) : new MemoryBackend();
        backend.version(REPORTED);
        MongoServer server = new MongoServer(backend);
        server.bind(args[0], Integer.parseInt(args[1]));
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "outgoing-mongo-shutdown"));
        System.out.println("outgoing-mongo-server listening on " + args[0] + ":" + args[1] + " backend=" + backend);
    }
}
