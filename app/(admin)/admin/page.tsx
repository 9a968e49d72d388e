import type { Metadata } from "next";
import { Card, formatDate } from "@/components/ui";
import { requireAdmin } from "@/lib/auth/session";
import { listUsers } from "@/lib/data/users";
import { RoleButton } from "./_components/role-button";

export const metadata: Metadata = { title: "Admin" };

export default async function AdminPage() {
  const me = await requireAdmin();
  const users = await listUsers();
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Admin</h1>
      <Card title="Users">
        <table className="w-full text-left text-sm">
          <thead className="text-xs uppercase text-zinc-500">
            <tr>
              <th className="py-2">Email</th>
              <th>Name</th>
              <th>Role</th>
              <th>Joined</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} className="border-t border-zinc-100" data-testid="user-row">
                <td className="py-2">{u.email}</td>
                <td>{u.name}</td>
                <td>{u.role}</td>
                <td>{formatDate(u.createdAt)}</td>
                <td className="text-right">
                  {u.id !== me.id && <RoleButton userId={u.id} email={u.email} role={u.role} />}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </div>
  );
}
