/*
 * The AEP activation view: every payload example of reference/aep-rudderstack-payloads.md
 * section 1, odd shapes, timestamps, and the agreement of the two builders (from the
 * decoded body, and straight from the text).
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>

#include "activation.h"
#include "json.h"
#include "test.h"

static char err[512];
static hf_buf_t out;

/* A1 1.2, the current doc's example (values verbatim). */
static const char *aep_current =
    "{\"person\": {\"birthDate\": \"YYYY-MM-DD\", \"name\": {\"firstName\": \"John\", "
    "\"lastName\": \"Doe\"}},"
    " \"personalEmail\": {\"address\": \"john.doe@acme.com\"},"
    " \"segmentMembership\": {\"ups\": {"
    "  \"7841ba61-23c1-4bb3-a495-00d3g5fe1e93\": {\"lastQualificationTime\": "
    "\"2022-01-11T21:24:39Z\", \"status\": \"exited\"},"
    "  \"59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae\": {\"lastQualificationTime\": "
    "\"2022-01-02T23:37:33Z\", \"status\": \"realized\"},"
    "  \"947c1c46-008d-40b0-92ec-3af86eaf41c1\": {\"lastQualificationTime\": "
    "\"2021-08-25T23:37:33Z\", \"status\": \"realized\"},"
    "  \"5114d758-ce71-43ba-b53e-e2a91d67b67f\": {\"lastQualificationTime\": "
    "\"2022-01-11T23:37:33Z\", \"status\": \"realized\"}}},"
    " \"identityMap\": {"
    "  \"ecid\": [{\"id\": \"14575006536349286404619648085736425115\"}, "
    "{\"id\": \"66478888669296734530114754794777368480\"}],"
    "  \"email_lc_sha256\": [{\"id\": \"655332b5fa2aea4498bf7a290cff017cb4\"}, "
    "{\"id\": \"66baf76ef9de8b42df8903f00e0e3dc0b7\"}]}}";

/* A1 with "Include Segment Names" (offset without colon, epoch-millisecond fields). */
static const char *aep_names =
    "{\"segmentMembership\": {\"ups\": {\"5b998cb9-9488-4ec3-8d95-fa8338ced490\": {"
    "\"lastQualificationTime\": \"2019-04-15T02:41:50+0000\", \"status\": \"realized\","
    "\"createdAt\": 1648553325000, \"updatedAt\": 1648553330000,"
    "\"mappingCreatedAt\": 1649856570000, \"mappingUpdatedAt\": 1649856570000,"
    "\"name\": \"First name equals John\"}}}}";

/* A1 with "Include Segment Timestamps": as the doc prints it, with its trailing comma. */
static const char *aep_timestamps_as_printed =
    "{\"segmentMembership\": {\"ups\": {\"5b998cb9-9488-4ec3-8d95-fa8338ced490\": {"
    "\"lastQualificationTime\": \"2019-04-15T02:41:50+0000\", \"status\": \"realized\","
    "\"createdAt\": 1648553325000, \"updatedAt\": 1648553330000,"
    "\"mappingCreatedAt\": 1649856570000, \"mappingUpdatedAt\": 1649856570000,}}}}";

/* A1-old, the "(Beta)" doc: existing and exited. */
static const char *aep_beta =
    "{\"person\": {\"email\": \"yourstruly@adobe.con\"},"
    " \"segmentMembership\": {\"ups\": {"
    "  \"72ddd79b-6b0a-4e97-a8d2-112ccd81bd02\": {\"lastQualificationTime\": "
    "\"2020-05-25T21:24:39Z\", \"status\": \"exited\"},"
    "  \"7841ba61-23c1-4bb3-a495-00d3g5fe1e93\": {\"lastQualificationTime\": "
    "\"2020-05-25T23:37:33Z\", \"status\": \"existing\"}}},"
    " \"identityMap\": {\"ecid\": [{\"id\": \"14575006536349286404619648085736425115\"}]}}";

/* T-old 18.6, a known profile (segmentName was added by the tutorial's function). */
static const char *aep_known_profile =
    "{\"segmentMembership\": {\"ups\": {"
    " \"3a4ec8f1-5612-47b5-b58a-0b15a91cc7e6\": {\"lastQualificationTime\": "
    "\"2020-12-13T09:11:26Z\", \"status\": \"existing\", \"segmentName\": "
    "\"all - Homepage Visitors\"},"
    " \"50a9e917-a7c4-4341-9f85-e3ba22f869a1\": {\"lastQualificationTime\": "
    "\"2020-12-13T09:10:52Z\", \"status\": \"existing\", \"segmentName\": "
    "\"vangeluw - Citi Signal Sports Fan\"}}},"
    " \"identityMap\": {"
    " \"phone\": [{\"id\": \"+32473622044+13122020-1\"}],"
    " \"ecid\": [{\"id\": \"14146183802541965561933129890668766623\"}],"
    " \"email_lc_sha256\": [{\"id\": "
    "\"ac2f9508eda32cd90bcf3f9810837e1a70ffd8bb42cf059a5365f5856f79f5e1\"}],"
    " \"email\": [{\"id\": \"woutervangeluwe+13122020-1@gmail.com\"}]}}";

/* T-new ex6 / T-old 18.5, an anonymous profile. */
static const char *aep_anonymous =
    "{\"segmentMembership\": {\"ups\": {"
    " \"ca114007-4122-4ef6-a730-4d98e56dce45\": {\"lastQualificationTime\": "
    "\"2020-08-31T10:59:43Z\", \"status\": \"realized\"},"
    " \"be2df7e3-a6e3-4eb4-ab12-943a4be90837\": {\"lastQualificationTime\": "
    "\"2020-08-31T10:59:56Z\", \"status\": \"realized\"},"
    " \"39f0feef-a8f2-48c6-8ebe-3293bc49aaef\": {\"lastQualificationTime\": "
    "\"2020-08-31T10:59:56Z\", \"status\": \"realized\"}}},"
    " \"identityMap\": {\"ecid\": [{\"id\": \"08130494355355215032117568021714632048\"}]}}";

/* A RudderStack track event (section 2): plain JSON, no activation. */
static const char *rudder_track =
    "{\"anonymousId\": \"8d872292-709c-4a1e-8b0c-3d3bd6ea5b3b\", \"channel\": \"web\","
    " \"context\": {\"library\": {\"name\": \"RudderLabs JavaScript SDK\"}, \"traits\": {}},"
    " \"event\": \"Order Completed\", \"messageId\": \"b4d5c2a1\", \"type\": \"track\","
    " \"properties\": {\"revenue\": 30.5, \"segmentMembership\": \"not top level\"},"
    " \"userId\": \"u-1\", \"originalTimestamp\": \"2024-02-01T10:00:00.000Z\"}";

/* A fresh state. */
static lua_State *newL(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    return L;
}

/* Encodes the value at idx (sorted keys) into out.data. */
static const char *enc(lua_State *L, int idx)
{
    out.len = 0;
    if (hf_json_encode(L, idx, &out, err, sizeof(err)) < 0)
        return err;
    return out.data ? out.data : "";
}

/* Builds the view of json both ways, checks they agree, and leaves the body-based view
   on the stack (plus the body below it). Returns the result of hf_activation_push. */
static int view2(lua_State *L, const char *json, int *agree)
{
    char e2[256];
    *agree = 0;
    if (hf_json_decode(L, json, strlen(json), err, sizeof(err)) < 0)
        return -1;
    int r1 = hf_activation_push(L, -1);
    char *a = strdup(r1 ? enc(L, -1) : "");
    int r2 = hf_activation_push_json(L, json, strlen(json), e2, sizeof(e2));
    if (r2 == r1) {
        *agree = !r2 || strcmp(a, enc(L, -1)) == 0;
        if (r2)
            lua_pop(L, 1);
    }
    free(a);
    return r1;
}

/* Runs a Lua chunk with `a` set to the value on top; returns its string result. */
static const char *with_view(lua_State *L, const char *code)
{
    static char buf[2048];
    lua_setglobal(L, "a");
    if (luaL_dostring(L, code) != LUA_OK)
        snprintf(buf, sizeof(buf), "LUAERR: %s", lua_tostring(L, -1));
    else
        snprintf(buf, sizeof(buf), "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "nil");
    lua_settop(L, 0);
    return buf;
}

static const char *lua_lists =
    "local function j(t) return table.concat(t, ',') end "
    "local s = {} for i, g in ipairs(a.segments) do s[i] = g.id:sub(1, 8) .. '=' .. "
    "tostring(g.status) .. '@' .. tostring(g.qualifiedAt) end "
    "return j(s) .. ' | R ' .. j(a.realized) .. ' | E ' .. j(a.existing) .. ' | X ' .. "
    "j(a.exited)";

TEST(aep_current_example)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, aep_current, &agree) == 1 && agree);
    lua_pushvalue(L, -1);
    CHECK_STR(with_view(L, lua_lists),
              "5114d758=realized@1641944253,59bd2fkd=realized@1641166653,"
              "7841ba61=exited@1641936279,947c1c46=realized@1629934653"
              " | R 5114d758-ce71-43ba-b53e-e2a91d67b67f,59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae,"
              "947c1c46-008d-40b0-92ec-3af86eaf41c1 | E  | X 7841ba61-23c1-4bb3-a495-00d3g5fe1e93");
    CHECK(view2(L, aep_current, &agree) == 1);
    CHECK_STR(with_view(L, "local s = a.segments[1] "
                           "return s.namespace .. ' ' .. s.lastQualificationTime .. ' ' .. "
                           "a.identities.ecid[1] .. ' ' .. a.identities.ecid[2] .. ' ' .. "
                           "#a.identities.email_lc_sha256 .. ' ' .. "
                           "a.attributes.person.name.firstName .. ' ' .. "
                           "a.attributes.personalEmail.address .. ' ' .. "
                           "tostring(a.attributes.segmentMembership)"),
              "ups 2022-01-11T23:37:33Z 14575006536349286404619648085736425115 "
              "66478888669296734530114754794777368480 2 John john.doe@acme.com nil");
    lua_close(L);
}

TEST(aep_segment_names_toggle)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, aep_names, &agree) == 1 && agree);
    CHECK_STR(enc(L, -1),
              "{\"attributes\":{},\"existing\":[],\"exited\":[],\"identities\":{},"
              "\"realized\":[\"5b998cb9-9488-4ec3-8d95-fa8338ced490\"],\"segments\":[{"
              "\"createdAt\":1648553325000,\"id\":\"5b998cb9-9488-4ec3-8d95-fa8338ced490\","
              "\"lastQualificationTime\":\"2019-04-15T02:41:50+0000\","
              "\"mappingCreatedAt\":1649856570000,\"mappingUpdatedAt\":1649856570000,"
              "\"name\":\"First name equals John\",\"namespace\":\"ups\","
              "\"qualifiedAt\":1555296110,\"status\":\"realized\","
              "\"updatedAt\":1648553330000}]}");
    lua_close(L);
}

TEST(aep_segment_timestamps_toggle)
{
    lua_State *L = newL();
    int agree;
    /* the doc's snippet has a trailing comma: the body is not JSON, and says where */
    CHECK(hf_json_decode(L, aep_timestamps_as_printed, strlen(aep_timestamps_as_printed), err,
                         sizeof(err)) == -1);
    CHECK_STR(err, "invalid JSON at byte 270: expected a string key, found '}'");
    char e2[256];
    CHECK(hf_activation_push_json(L, aep_timestamps_as_printed,
                                  strlen(aep_timestamps_as_printed), e2, sizeof(e2)) == -1);
    CHECK_STR(e2, err);
    CHECK_INT(lua_gettop(L), 0);
    /* the same without the comma */
    char fixed[1024];
    snprintf(fixed, sizeof(fixed), "%s", aep_timestamps_as_printed);
    char *comma = strstr(fixed, ",}");
    memmove(comma, comma + 1, strlen(comma));
    CHECK(view2(L, fixed, &agree) == 1 && agree);
    CHECK_STR(with_view(L, "local s = a.segments[1] return tostring(s.name) .. ' ' .. "
                           "s.createdAt .. ' ' .. s.mappingUpdatedAt .. ' ' .. s.qualifiedAt"),
              "nil 1648553325000 1649856570000 1555296110");
    lua_close(L);
}

TEST(aep_beta_existing_and_exited)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, aep_beta, &agree) == 1 && agree);
    CHECK_STR(with_view(L, lua_lists),
              "72ddd79b=exited@1590441879,7841ba61=existing@1590449853 | R  | "
              "E 7841ba61-23c1-4bb3-a495-00d3g5fe1e93 | X 72ddd79b-6b0a-4e97-a8d2-112ccd81bd02");
    CHECK(view2(L, aep_beta, &agree) == 1);
    CHECK_STR(with_view(L, "return a.attributes.person.email"), "yourstruly@adobe.con");
    lua_close(L);
}

TEST(aep_known_profile_all_existing)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, aep_known_profile, &agree) == 1 && agree);
    CHECK_STR(with_view(L, "local n = 0 for _ in pairs(a.identities) do n = n + 1 end "
                           "return #a.realized .. #a.existing .. #a.exited .. ' ' .. n .. ' ' .. "
                           "a.identities.phone[1] .. ' ' .. a.identities.email[1] .. ' ' .. "
                           "tostring(a.segments[1].segmentName)"),
              "020 4 +32473622044+13122020-1 woutervangeluwe+13122020-1@gmail.com nil");
    lua_close(L);
}

TEST(aep_anonymous_all_realized)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, aep_anonymous, &agree) == 1 && agree);
    CHECK_STR(with_view(L, "return table.concat(a.realized, ' ') .. ' | ' .. "
                           "a.identities.ecid[1] .. ' | ' .. #a.existing .. #a.exited .. "
                           "(next(a.attributes) == nil and ' noattrs' or ' attrs')"),
              "39f0feef-a8f2-48c6-8ebe-3293bc49aaef be2df7e3-a6e3-4eb4-ab12-943a4be90837 "
              "ca114007-4122-4ef6-a730-4d98e56dce45 | 08130494355355215032117568021714632048 | "
              "00 noattrs");
    lua_close(L);
}

TEST(exited_audiences_only)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, "{\"segmentMembership\":{\"ups\":{\"b\":{\"status\":\"exited\","
                   "\"lastQualificationTime\":\"2022-01-11T21:24:39Z\"},\"a\":{\"status\":"
                   "\"exited\",\"lastQualificationTime\":\"2022-01-11T21:24:40Z\"}}},"
                   "\"identityMap\":{\"crmid\":[{\"id\":\"C-1\"}]}}", &agree) == 1 && agree);
    CHECK_STR(with_view(L, "return table.concat(a.exited, ',') .. #a.realized .. "
                           "a.identities.crmid[1]"), "a,b0C-1");
    lua_close(L);
}

TEST(empty_ups_and_missing_parts)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, "{\"segmentMembership\":{\"ups\":{}},\"identityMap\":{}}", &agree) == 1);
    CHECK(agree);
    CHECK_STR(enc(L, -1), "{\"attributes\":{},\"existing\":[],\"exited\":[],\"identities\":{},"
                          "\"realized\":[],\"segments\":[]}");
    /* no identityMap */
    CHECK(view2(L, "{\"segmentMembership\":{\"ups\":{\"x\":{\"status\":\"realized\"}}},"
                   "\"person\":{\"a\":1}}", &agree) == 1 && agree);
    CHECK_STR(with_view(L, "return (next(a.identities) == nil and 'none' or 'some') .. "
                           "a.realized[1] .. a.attributes.person.a"), "nonex1");
    /* identityMap only */
    CHECK(view2(L, "{\"identityMap\":{\"email\":[{\"id\":\"a@b.c\"}]}}", &agree) == 1 && agree);
    CHECK_STR(enc(L, -1), "{\"attributes\":{},\"existing\":[],\"exited\":[],\"identities\":"
                          "{\"email\":[\"a@b.c\"]},\"realized\":[],\"segments\":[]}");
    lua_close(L);
}

TEST(rudderstack_event_has_no_activation)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, rudder_track, &agree) == 0 && agree);
    CHECK_INT(lua_gettop(L), 1);                 /* only the body */
    lua_settop(L, 0);
    const char *not_views[] = { "[{\"segmentMembership\":{}}]", "\"segmentMembership\"", "42",
                                "{\"x\":{\"identityMap\":{}}}", "{}", "[]", "null" };
    for (size_t i = 0; i < sizeof(not_views) / sizeof(not_views[0]); i++) {
        CHECK(view2(L, not_views[i], &agree) == 0 && agree);
        lua_settop(L, 0);
    }
    /* not JSON at all: no view either way */
    CHECK(hf_activation_push_json(L, "not json", 8, err, sizeof(err)) == 0);
    CHECK(hf_activation_push_json(L, "", 0, err, sizeof(err)) == 0);
    CHECK(hf_activation_push_json(L, NULL, 0, err, sizeof(err)) == 0);
    lua_pushinteger(L, 5);
    CHECK(hf_activation_push(L, -1) == 0);
    CHECK_INT(lua_gettop(L), 1);
    lua_close(L);
}

TEST(odd_shapes_are_handled)
{
    lua_State *L = newL();
    int agree;
    /* ups not an object; a status missing, unknown, not a string; another namespace; an
       entry that is not an object; identityMap entries that are not arrays; ids that are
       not strings */
    const char *odd =
        "{\"segmentMembership\":{\"ups\":{\"s1\":{\"lastQualificationTime\":\"bad\"},"
        "\"s2\":{\"status\":\"pending\"},\"s3\":{\"status\":7},\"s4\":\"realized\","
        "\"s5\":{\"status\":\"realized\",\"name\":null}},"
        "\"aam\":{\"s0\":{\"status\":\"existing\"},\"s5\":{\"status\":\"exited\"}},"
        "\"bad\":[1,2],\"worse\":5},"
        "\"identityMap\":{\"ecid\":{\"id\":\"single\"},\"phone\":\"+1\",\"crm\":5,"
        "\"num\":[{\"id\":12},{\"id\":1.5},{\"id\":null},{\"id\":{}},{\"x\":1},\"raw\",7,null],"
        "\"none\":[]}}";
    CHECK(view2(L, odd, &agree) == 1 && agree);
    CHECK_STR(with_view(L,
        "local s = {} for i, g in ipairs(a.segments) do s[i] = g.namespace .. ':' .. g.id .. "
        "'=' .. tostring(g.status) .. '/' .. tostring(g.qualifiedAt) .. '/' .. "
        "tostring(g.name) end "
        "local ids = {} for _, k in ipairs({'ecid','phone','crm','num','none'}) do "
        "ids[#ids + 1] = k .. '=' .. table.concat(a.identities[k], ';') end "
        "return table.concat(s, ',') .. ' | ' .. table.concat(a.realized, ',') .. ' ' .. "
        "table.concat(a.existing, ',') .. ' ' .. table.concat(a.exited, ',') .. ' | ' .. "
        "table.concat(ids, ' ')"),
        "aam:s0=existing/nil/nil,ups:s1=nil/nil/nil,ups:s2=pending/nil/nil,ups:s3=nil/nil/nil,"
        "ups:s4=nil/nil/nil,aam:s5=exited/nil/nil,ups:s5=realized/nil/nil | s5 s0 s5 | "
        "ecid=single phone=+1 crm= num=12;raw;7 none=");
    /* segmentMembership not an object at all */
    CHECK(view2(L, "{\"segmentMembership\":\"x\",\"a\":1}", &agree) == 1 && agree);
    CHECK_STR(enc(L, -1), "{\"attributes\":{\"a\":1},\"existing\":[],\"exited\":[],"
                          "\"identities\":{},\"realized\":[],\"segments\":[]}");
    CHECK(view2(L, "{\"segmentMembership\":null,\"identityMap\":[1]}", &agree) == 1 && agree);
    CHECK(view2(L, "{\"segmentMembership\":{\"ups\":null}}", &agree) == 1 && agree);
    lua_close(L);
}

TEST(sorted_by_id_then_namespace)
{
    lua_State *L = newL();
    int agree;
    CHECK(view2(L, "{\"segmentMembership\":{\"z\":{\"b\":{},\"a\":{}},\"ups\":{\"b\":{},"
                   "\"ab\":{},\"B\":{},\"a\":{}}}}", &agree) == 1 && agree);
    CHECK_STR(with_view(L, "local s = {} for i, g in ipairs(a.segments) do "
                           "s[i] = g.id .. '.' .. g.namespace end return table.concat(s, ' ')"),
              "B.ups a.ups a.z ab.ups b.ups b.z");
    lua_close(L);
}

TEST(duplicate_keys_agree_with_the_body)
{
    lua_State *L = newL();
    int agree;
    const char *cases[] = {
        "{\"segmentMembership\":{\"ups\":{\"a\":{\"status\":\"realized\"}}},"
        "\"segmentMembership\":{\"ups\":{\"b\":{\"status\":\"exited\"}}}}",
        "{\"segmentMembership\":{\"ups\":{\"a\":{\"status\":\"realized\"}},"
        "\"ups\":{\"c\":{\"status\":\"existing\"}}}}",
        "{\"segmentMembership\":{\"ups\":{\"a\":{\"status\":\"realized\"},"
        "\"a\":{\"status\":\"exited\",\"status\":null}}}}",
        "{\"segmentMembership\":{\"ups\":{\"a\":{\"lastQualificationTime\":"
        "\"2020-01-01T00:00:00Z\",\"lastQualificationTime\":\"bad\"}}}}",
        "{\"identityMap\":{\"e\":[\"x\"]},\"identityMap\":{\"f\":[{\"id\":\"y\",\"id\":\"z\"}]},"
        "\"p\":1,\"p\":2}",
        "{\"segment\\u004dembership\":{\"u\\u0070s\":{\"\\u0061\":{\"st\\u0061tus\":"
        "\"re\\u0061lized\"}}}}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(view2(L, cases[i], &agree) == 1);
        if (!agree) {
            snprintf(hf_test_why, sizeof(hf_test_why), "builders disagree on case %zu", i);
            hf_test_failed = 1;
            return;
        }
        lua_settop(L, 0);
    }
    CHECK(view2(L, cases[5], &agree) == 1);
    CHECK_STR(with_view(L, "return a.realized[1]"), "a");
    lua_close(L);
}

TEST(timestamps)
{
    struct { const char *s; long long want; } ok[] = {
        { "2022-01-11T21:24:39Z", 1641936279 },
        { "2019-04-15T02:41:50+0000", 1555296110 },
        { "2019-04-15T02:41:50+00:00", 1555296110 },
        { "2019-04-15T04:41:50+02:00", 1555296110 },
        { "2019-04-14T21:11:50-0530", 1555296110 },
        { "2019-04-15T02:41:50.987Z", 1555296110 },
        { "2019-04-15T02:41:50.5+0000", 1555296110 },
        { "2019-04-15T02:41:50", 1555296110 },
        { "2019-04-15t02:41:50z", 1555296110 },
        { "2019-04-15 02:41:50Z", 1555296110 },
        { "2019-04-15T02:41Z", 1555296060 },
        { "2019-04-15", 1555286400 },
        { "1970-01-01T00:00:00Z", 0 },
        { "1969-12-31T23:59:59Z", -1 },
        { "2000-02-29T00:00:00Z", 951782400 },
        { "2016-12-31T23:59:60Z", 1483228800 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        long long e = 42;
        if (hf_activation_parse_time(ok[i].s, strlen(ok[i].s), &e) != 0 || e != ok[i].want) {
            snprintf(hf_test_why, sizeof(hf_test_why), "%s -> %lld, want %lld", ok[i].s, e,
                     ok[i].want);
            hf_test_failed = 1;
            return;
        }
    }
    const char *bad[] = { "", "2022", "2022-13-01T00:00:00Z", "2022-02-29T00:00:00Z",
                          "2022-04-31T00:00:00Z", "2022-01-11T24:00:00Z", "2022-01-11T21:60:00Z",
                          "2022-01-11T21:24:39 Z", "2022-01-11T21:24:39+", "2022-01-11T21:24:39X",
                          "2022-01-11T21:24:39Z ", "22-01-11", "2022-01-11T21:24:39.Z",
                          "2022-01-11T21:24:39+2400", "yesterday" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long e;
        if (hf_activation_parse_time(bad[i], strlen(bad[i]), &e) == 0) {
            snprintf(hf_test_why, sizeof(hf_test_why), "accepted \"%s\"", bad[i]);
            hf_test_failed = 1;
            return;
        }
    }
}

TEST(attributes_share_the_body_values)
{
    lua_State *L = newL();
    const char *s = "{\"identityMap\":{},\"person\":{\"n\":1},\"list\":[1,2],\"flag\":true}";
    CHECK(hf_json_decode(L, s, strlen(s), err, sizeof(err)) == 0);
    CHECK(hf_activation_push(L, 1) == 1);
    lua_getfield(L, 2, "attributes");
    lua_getfield(L, -1, "person");
    lua_getfield(L, 1, "person");
    CHECK(lua_rawequal(L, -1, -2));
    lua_settop(L, 2);
    CHECK_STR(enc(L, 2), "{\"attributes\":{\"flag\":true,\"list\":[1,2],\"person\":{\"n\":1}},"
                         "\"existing\":[],\"exited\":[],\"identities\":{},\"realized\":[],"
                         "\"segments\":[]}");
    lua_close(L);
}

TEST(many_segments)
{
    lua_State *L = newL();
    int agree;
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{\"segmentMembership\":{\"ups\":{");
    for (int i = 4999; i >= 0; i--)
        n += (size_t)snprintf(s + n, cap - n, "%s\"seg-%05d\":{\"status\":\"%s\"}",
                              i == 4999 ? "" : ",", i, i % 2 ? "realized" : "exited");
    snprintf(s + n, cap - n, "}}}");
    CHECK(view2(L, s, &agree) == 1 && agree);
    CHECK_STR(with_view(L, "return #a.segments .. ' ' .. a.segments[1].id .. ' ' .. "
                           "a.segments[5000].id .. ' ' .. #a.realized .. ' ' .. a.exited[2500]"),
              "5000 seg-00000 seg-04999 2500 seg-04998");
    free(s);
    hf_buf_free(&out);
    lua_close(L);
}

TEST(text_view_rejects_what_the_decoder_rejects)
{
    lua_State *L = newL();
    char e1[512], e2[512];
    size_t n = 100000;
    char *deep = malloc(n + 64);
    int k = sprintf(deep, "{\"identityMap\":{},\"x\":");
    memset(deep + k, '[', n - (size_t)k);
    const char *cases[] = {
        "{\"segmentMembership\":{\"ups\":{\"a\":{\"status\":\"realized\"}}}",   /* truncated */
        "{\"segmentMembership\":{\"ups\":{}}} x",                                  /* trailing */
        "{\"identityMap\":{\"e\":[{\"id\":\"\xff\"}]}}",                            /* bad UTF-8 */
        "{\"identityMap\":{},\"a\":1e400}",                                         /* range */
        "{\"segmentMembership\":{\"ups\":{\"a\":{\"status\":\"x\" \"name\":1}}}}",   /* comma */
        "{\"identityMap\":{\"e\":[1 2]}}",
        "{\"identityMap\":{}",
        "{\"identityMap\":{},}",
        deep,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = i == 8 ? n : strlen(cases[i]);
        CHECK(hf_json_decode(L, cases[i], len, e1, sizeof(e1)) == -1);
        CHECK(hf_activation_push_json(L, cases[i], len, e2, sizeof(e2)) == -1);
        CHECK_STR(e2, e1);
        CHECK_INT(lua_gettop(L), 0);
    }
    free(deep);
    /* the object is level 1, the '[' from byte 22 on levels 2...: level 1001 is at 22 + 999 */
    CHECK_STR(e1, "invalid JSON at byte 1021: nesting deeper than 1000 levels");
    lua_close(L);
}

TEST(identities_and_attributes_built_on_first_read)
{
    lua_State *L = newL();
    const char *json = "{\"person\":{\"name\":\"Ann\"},\"segmentMembership\":{\"ups\":"
                       "{\"s1\":{\"status\":\"realized\"}}},\"identityMap\":{\"email\":"
                       "[{\"id\":\"a@x\"}]}}";
    char e[256];
    CHECK(hf_activation_push_json(L, json, strlen(json), e, sizeof(e)) == 1);
    CHECK_STR(with_view(L, "return tostring(rawget(a, 'identities')) .. ' ' .. "
                           "tostring(rawget(a, 'attributes')) .. ' ' .. a.realized[1]"),
              "nil nil s1");
    /* a value the handler set first stays; reading one builds the other too */
    CHECK(hf_activation_push_json(L, json, strlen(json), e, sizeof(e)) == 1);
    CHECK_STR(with_view(L, "a.attributes = { mine = true } "
                           "return a.identities.email[1] .. ' ' .. tostring(a.attributes.mine)"
                           " .. ' ' .. tostring(a.attributes.person)"),
              "a@x true nil");
    /* pairs sees every field and no private key */
    CHECK(hf_activation_push_json(L, json, strlen(json), e, sizeof(e)) == 1);
    CHECK_STR(with_view(L, "local k = {} for n in pairs(a) do k[#k + 1] = n end "
                           "table.sort(k) return table.concat(k, ',') .. ' ' .. "
                           "a.attributes.person.name"),
              "attributes,existing,exited,identities,realized,segments Ann");
    lua_close(L);
}

TEST_MAIN()
