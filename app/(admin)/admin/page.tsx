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
        <table className="responsive-table w-full text-left text-sm">
          <thead className="text-xs uppercase text-zinc-500">
            <tr>
              <th className="py-2">Email</th>
              <th>Name</th>
              <th>Role</th>
              <th>Joined</th>
              <th>
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} className="border-t border-zinc-100" data-testid="user-row">
                <td data-label="Email" className="py-2 break-all">
                  {u.email}
                </td>
                <td data-label="Name">{u.name}</td>
                <td data-label="Role">{u.role}</td>
                <td data-label="Joined">{formatDate(u.createdAt)}</td>
                <td className="sm:text-right">
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
