-- A guard that tries to change the lead it is shown.
return {
    guard = function(lead)
        lead.state = "closed"
        return true
    end,
    nested = function(lead)
        lead.fields.conclusion = "查实"
        return true
    end,
    raw = function(lead)
        rawset(lead, "state", "closed")
        return true
    end,
    insert = function(lead)
        table.insert(lead.list, 4)
        return true
    end,
    unprotect = function(lead)
        setmetatable(lead, nil)
        return true
    end,
    ok = function(lead) return lead.state == "verify" end,
}
