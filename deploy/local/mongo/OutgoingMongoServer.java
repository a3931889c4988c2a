import java.lang.reflect.Field;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;

import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.AbstractMongoCollection;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryCollection;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.bson.BsonRegularExpression;
import de.bwaldvogel.mongo.bson.Document;

/**
 * The local MongoDB-wire server: mongo-java-server on its H2 MVStore file backend, or in memory.
 *
 * <p>It reports MongoDB 5.0 (wire version 13) instead of the library's default wire version 8,
 * which current PyMongo refuses as too old. Usage: {@code OutgoingMongoServer HOST PORT [FILE]};
 * without FILE the data lives in memory only.
 *
 * <p>Its collections read a query that names one {@code _id} and more conditions (a conditional
 * update: {@code {_id, version}}, {@code {_id, state}}) by that {@code _id}, as MongoDB does. The
 * library uses its {@code _id} index only for a query on {@code _id} alone and scans the whole
 * collection otherwise, which made every conditional write cost a scan.
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
        MongoBackend backend = args.length == 3 ? new IdFirstH2Backend(args[2]) : new IdFirstMemoryBackend();
        backend.version(REPORTED);
        MongoServer server = new MongoServer(backend);
        server.bind(args[0], Integer.parseInt(args[1]));
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "outgoing-mongo-shutdown"));
        System.out.println("outgoing-mongo-server listening on " + args[0] + ":" + args[1] + " backend=" + backend);
    }
}

/** Where a query names one plain {@code _id} besides other conditions: the positions of that document. */
final class IdFirst {

    private IdFirst() {
    }

    static <P> Iterable<P> candidates(AbstractMongoCollection<P> collection, Document query) {
        if (query.size() < 2 || !query.containsKey("_id")) {
            return null;
        }
        Object id = query.get("_id");
        if (id == null || id instanceof Document || id instanceof Collection || id instanceof Pattern || BsonRegularExpression.isRegularExpression(id)) {
            return null;
        }
        for (Index<P> index : collection.getIndexes()) {
            List<IndexKey> keys = index.getKeys();
            if (index.isUnique() && keys.size() == 1 && keys.get(0).getKey().equals("_id")) {
                return index.getPositions(new Document("_id", id));
            }
        }
        return null;
    }
}

final class IdFirstH2Backend extends H2Backend {

    IdFirstH2Backend(String fileName) {
        super(fileName);
    }

    @Override
    protected MongoDatabase openOrCreateDatabase(String databaseName) {
        return new IdFirstH2Database(databaseName, getMvStore(), getCursorRegistry());
    }
}

final class IdFirstH2Database extends H2Database {

    IdFirstH2Database(String databaseName, MVStore mvStore, CursorRegistry cursorRegistry) {
        super(databaseName, mvStore, cursorRegistry);
    }

    @Override
    @SuppressWarnings("unchecked")
    protected MongoCollection<Object> openOrCreateCollection(String collectionName, CollectionOptions options) {
        MongoCollection<Object> plain = super.openOrCreateCollection(collectionName, options);
        try {
            Field data = H2Collection.class.getDeclaredField("dataMap");
            Field meta = H2Collection.class.getDeclaredField("metaMap");
            data.setAccessible(true);
            meta.setAccessible(true);
            return new IdFirstH2Collection(this, collectionName, options, (MVMap<Object, Document>) data.get(plain), (MVMap<String, Object>) meta.get(plain), cursorRegistry);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("mongo-java-server's H2Collection changed; see deploy/local/mongo/OutgoingMongoServer.java", e);
        }
    }
}

final class IdFirstH2Collection extends H2Collection {

    IdFirstH2Collection(MongoDatabase database, String collectionName, CollectionOptions options, MVMap<Object, Document> dataMap, MVMap<String, Object> metaMap, CursorRegistry cursorRegistry) {
        super(database, collectionName, options, dataMap, metaMap, cursorRegistry);
    }

    @Override
    protected QueryResult queryDocuments(Document query, Document orderBy, int numberToSkip, int limit, int batchSize, Document fieldSelector) {
        Iterable<Object> byId = IdFirst.candidates(this, query);
        if (byId != null) {
            return matchDocuments(query, byId, orderBy, numberToSkip, limit, batchSize, fieldSelector);
        }
        return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
    }
}

final class IdFirstMemoryBackend extends MemoryBackend {

    @Override
    public MemoryDatabase openOrCreateDatabase(String databaseName) {
        return new IdFirstMemoryDatabase(databaseName, getCursorRegistry());
    }
}

final class IdFirstMemoryDatabase extends MemoryDatabase {

    IdFirstMemoryDatabase(String databaseName, CursorRegistry cursorRegistry) {
        super(databaseName, cursorRegistry);
    }

    @Override
    protected MemoryCollection openOrCreateCollection(String collectionName, CollectionOptions options) {
        return new IdFirstMemoryCollection(this, collectionName, options, cursorRegistry);
    }
}

final class IdFirstMemoryCollection extends MemoryCollection {

    IdFirstMemoryCollection(MongoDatabase database, String collectionName, CollectionOptions options, CursorRegistry cursorRegistry) {
        super(database, collectionName, options, cursorRegistry);
    }

    @Override
    protected QueryResult queryDocuments(Document query, Document orderBy, int numberToSkip, int limit, int batchSize, Document fieldSelector) {
        Iterable<Integer> byId = IdFirst.candidates(this, query);
        if (byId != null) {
            return matchDocuments(query, byId, orderBy, numberToSkip, limit, batchSize, fieldSelector);
        }
        return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
    }
}
